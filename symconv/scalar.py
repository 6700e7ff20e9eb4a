"""``symconv.scalar``: the scalar-level helpers Theano code imports (``upcast``)."""
from __future__ import annotations

from symconv.config import config
from symconv.ops.elemwise import upcast as _upcast


def upcast(dtype: str, *dtypes: str) -> str:
    """The dtype that holds every given dtype (NumPy's promotion; 'floatX' is read)."""
    names = [config.floatX if d == "floatX" else d for d in (dtype,) + dtypes]
    return _upcast(*names)
