"""The rewrite rules, one module per purpose; importing this registers them."""
from symconv.rewrites import canonicalize, stabilize  # noqa: F401
from symconv.rewrites import specialize  # noqa: F401
from symconv.rewrites import bucketing  # noqa: F401
from symconv.rewrites import sigmoid  # noqa: F401
from symconv.rewrites import fold  # noqa: F401
from symconv.rewrites import backward  # noqa: F401
from symconv.rewrites import pool_switches  # noqa: F401
