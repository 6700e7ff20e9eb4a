"""Op definitions, one module per family; importing this registers every op."""
from symconv.ops import elemwise, shape, reduce, index, linalg, nnet, conv, pool  # noqa: F401
from symconv.ops import fused, collective  # noqa: F401
