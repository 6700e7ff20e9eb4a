"""Op definitions, one module per family; importing this registers every op."""
from symconv.ops import elemwise, shape, reduce, index, linalg, nnet, conv, pool  # noqa: F401
from symconv.ops import fused  # noqa: F401
from symconv.ops import random  # noqa: F401
from symconv.ops import collective  # noqa: F401  (allreduce and its bucketed form)
from symconv.ops import elemwise_more, extra, nlinalg  # noqa: F401
from symconv.ops import pool_switches  # noqa: F401  (max pooling by switches)
from symconv.ops import pool_nd, upsample  # noqa: F401  (symbolic-size and 3d pooling, upsampling)
