"""``import symconv.tensor as T``: Theano's tensor API."""
from symconv.graph import Variable, as_tensor_variable, constant
from symconv.graph import Variable as TensorVariable, Constant as TensorConstant
from symconv.graph import SharedVariable as TensorSharedVariable
from symconv.tensor import operators  # noqa: F401  (gives Variable its operators)
from symconv.tensor.basic import *  # noqa: F401,F403
from symconv.tensor.basic import abs, all, any, max, min, pow, round, sum  # noqa: F401
from symconv.gradient import grad, disconnected_grad, zero_grad  # noqa: F401
from symconv.tensor import nnet  # noqa: F401
from symconv.tensor import shared_randomstreams  # noqa: F401
from symconv.tensor.type import TensorType, TYPES as _TYPES, plural_constructors as _plurals

globals().update(_TYPES)   # T.dmatrix, T.fvector, ...: callable TensorType instances
globals().update(_plurals(globals()))   # T.dmatrices, T.scalars, ...

from symconv.tensor.more import *  # noqa: F401,F403,E402
from symconv.tensor import extra_ops, xlogx, nlinalg, slinalg  # noqa: F401,E402
from symconv.tensor.extra_ops import (cumsum, cumprod, diff, repeat, bincount,  # noqa: F401,E402
                                      squeeze, compress, fill_diagonal, to_one_hot)
from symconv.gradient import Rop, Lop  # noqa: F401,E402
from symconv.verify import verify_grad  # noqa: F401,E402

as_tensor = as_tensor_variable
