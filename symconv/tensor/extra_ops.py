"""``T.extra_ops``: cumsum, cumprod, diff, repeat, bincount, squeeze, to_one_hot, ... (Theano's
names and semantics; gradients come from the ops or from the indexing they are built on)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable, as_tensor_variable
from symconv.ops import extra as X
from symconv.tensor import basic as B


def cumsum(x: Any, axis: int | None = None) -> Variable:
    """Cumulative sum along ``axis`` (of the flattened array when None)."""
    return X.cumsum(x, axis=axis)


def cumprod(x: Any, axis: int | None = None) -> Variable:
    """Cumulative product along ``axis`` (of the flattened array when None)."""
    return X.cumprod(x, axis=axis)


def diff(x: Any, n: int = 1, axis: int = -1) -> Variable:
    """The ``n``-th discrete difference along ``axis``."""
    x = as_tensor_variable(x)
    axis %= x.ndim
    for _ in range(n):
        head = (slice(None),) * axis
        x = x[head + (slice(1, None),)] - x[head + (slice(None, -1),)]
    return x


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Variable:
    """Each element repeated ``repeats`` times (an int or one count per element) along ``axis``;
    the flattened array when None. Built as a gather, so its gradient sums the copies."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = B.flatten(x), 0
    axis %= x.ndim
    repeats = as_tensor_variable(repeats)
    if repeats.ndim > 1 or repeats.dtype[0] not in "iu":
        raise TypeError(f"repeat: repeats must be an integer scalar or vector, got {repeats.type}")
    index = X.repeat_index(x.shape[axis], repeats)
    return x[(slice(None),) * axis + (index,)]


def bincount(x: Any, weights: Any = None, minlength: int | None = None,
             assert_nonneg: bool = False) -> Variable:
    """Number of occurrences (or summed weights) of each value of the int vector ``x``."""
    inputs = [x] if weights is None else [x, weights]
    return X.bincount_op(*inputs, minlength=int(minlength or 0))


def squeeze(x: Any) -> Variable:
    """``x`` without its broadcastable (size-1) axes."""
    x = as_tensor_variable(x)
    return B.dimshuffle(x, *[a for a in range(x.ndim) if not x.broadcastable[a]])


def compress(condition: Any, x: Any, axis: int | None = None) -> Variable:
    """The slices of ``x`` along ``axis`` where ``condition`` is non-zero."""
    x = as_tensor_variable(x)
    index = X.nonzero_op(as_tensor_variable(condition).flatten())[0]
    if axis is None:
        return B.flatten(x)[index]
    return x[(slice(None),) * (axis % x.ndim) + (index,)]


def to_one_hot(y: Any, nb_class: int, dtype: str | None = None) -> Variable:
    """One-hot rows for the int vector ``y`` (``floatX`` by default)."""
    y = as_tensor_variable(y)
    classes = B.arange(nb_class)
    dtype = _floatx() if dtype in (None, "floatX") else dtype
    return B.cast(B.eq(B.shape_padright(y), B.shape_padleft(classes)), dtype)


def _floatx() -> str:
    from symconv.config import config
    return config.floatX


def fill_diagonal(a: Any, val: Any) -> Variable:
    """A copy of the matrix ``a`` with ``val`` on its main diagonal."""
    a = as_tensor_variable(a)
    n = B.minimum(a.shape[0], a.shape[1])
    i = B.arange(n)
    return B.set_subtensor(a[i, i], val)


def ravel_multi_index(multi_index: Any, dims: Any, mode: str = "raise",
                      order: str = "C") -> Variable:
    """The flat index of each tuple of ``multi_index`` in an array of shape ``dims``."""
    if order != "C":
        raise ValueError("ravel_multi_index: only order='C' is supported")
    dims = [as_tensor_variable(d) for d in dims]
    flat = as_tensor_variable(multi_index[0])
    for idx, size in zip(multi_index[1:], dims[1:]):
        flat = flat * size + idx
    return flat


def unravel_index(indices: Any, dims: Any, order: str = "C") -> tuple[Variable, ...]:
    """The tuple of coordinate arrays of the flat ``indices`` in an array of shape ``dims``."""
    if order != "C":
        raise ValueError("unravel_index: only order='C' is supported")
    rest = as_tensor_variable(indices)
    out = []
    for size in reversed(list(dims)[1:]):
        out.append(rest % size)
        rest = rest // size
    out.append(rest)
    return tuple(reversed(out))


def searchsorted(x: Any, v: Any, side: str = "left", sorter: Any = None) -> Variable:
    """Insertion points of ``v`` in the sorted vector ``x`` (a comparison count)."""
    x, v = as_tensor_variable(x), as_tensor_variable(v)
    cmp = B.le if side == "right" else B.lt
    below = cmp(B.shape_padleft(x, v.ndim), B.shape_padright(v))
    return B.sum(below, axis=v.ndim)


__all__ = ["cumsum", "cumprod", "diff", "repeat", "bincount", "squeeze", "compress",
           "to_one_hot", "fill_diagonal", "ravel_multi_index", "unravel_index", "searchsorted"]
