"""More of Theano's tensor functions, built from the core ops: tensordot, batched_dot, eye, tri,
tile, stacklists, mgrid/ogrid, ptp, swapaxes, choose, cov, nonzero, sort, specify_shape, ..."""
from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from symconv.config import config
from symconv.graph import Constant, Variable, as_tensor_variable
from symconv.ops import elemwise_more as M
from symconv.ops import extra as X
from symconv.ops import shape as S
from symconv.tensor import basic as B

tan, arcsin, arccos, arctan, arctan2 = M.tan, M.arcsin, M.arccos, M.arctan, M.arctan2
sinh, cosh, arcsinh, arccosh, arctanh = M.sinh, M.cosh, M.arcsinh, M.arccosh, M.arctanh
exp2, deg2rad, rad2deg, isnan, isinf = M.exp2, M.deg2rad, M.rad2deg, M.isnan, M.isinf
power = B.pow


def _prod(dims: Sequence[Any]) -> Any:
    total: Any = 1
    for d in dims:
        total = d if isinstance(total, int) and total == 1 else total * d
    return total


# ---- products ------------------------------------------------------------------------------


def tensordot(a: Any, b: Any, axes: Any = 2) -> Variable:
    """Sum of products over the given axes of ``a`` and ``b`` (NumPy's tensordot)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = [list(np.atleast_1d(ax)) for ax in axes]
    axes_a = [int(x) % a.ndim for x in axes_a]
    axes_b = [int(x) % b.ndim for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} of b")
    free_a = [x for x in range(a.ndim) if x not in axes_a]
    free_b = [x for x in range(b.ndim) if x not in axes_b]
    dims_a, dims_b = S.shape_of(a), S.shape_of(b)
    a2 = B.reshape(B.transpose(a, free_a + axes_a),
                   (_prod([dims_a[x] for x in free_a]), _prod([dims_a[x] for x in axes_a])))
    b2 = B.reshape(B.transpose(b, axes_b + free_b),
                   (_prod([dims_b[x] for x in axes_b]), _prod([dims_b[x] for x in free_b])))
    out_dims = [dims_a[x] for x in free_a] + [dims_b[x] for x in free_b]
    return B.reshape(B.dot(a2, b2), out_dims) if out_dims else B.dot(a2, b2)[0, 0]


def nd_dot(a: Variable, b: Variable) -> Variable:
    """Theano's dot for operands of more than two dimensions: tensordot over a's last axis and
    b's second to last (its only axis when b is a vector)."""
    return tensordot(a, b, [[a.ndim - 1], [builtins.max(0, b.ndim - 2)]])


def batched_dot(a: Any, b: Any) -> Variable:
    """``dot(a[i], b[i])`` for each i of the first axis."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim < 2 or b.ndim < 2:
        raise TypeError(f"batched_dot: operands need a batch axis and at least one more, got "
                        f"{a.type} and {b.type}")
    na, nb = a.ndim - 2, b.ndim - 2          # free axes of each (besides batch and summed)
    pa = [0] + list(range(1, a.ndim)) + ["x"] * nb
    pb = [0] + ["x"] * na + list(range(1, b.ndim))
    return B.sum(B.dimshuffle(a, *pa) * B.dimshuffle(b, *pb), axis=1 + na)


def batched_tensordot(x: Any, y: Any, axes: Any = 2) -> Variable:
    """tensordot per batch element of the first axis."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if isinstance(axes, int):
        axes = [list(range(x.ndim - axes, x.ndim)), list(range(1, axes + 1))]
    ax_x, ax_y = [int(v) % x.ndim for v in axes[0]], [int(v) % y.ndim for v in axes[1]]
    free_x = [d for d in range(1, x.ndim) if d not in ax_x]
    free_y = [d for d in range(1, y.ndim) if d not in ax_y]
    k = len(ax_x)
    px = [0] + free_x + ["x"] * len(free_y) + ax_x
    py = [0] + ["x"] * len(free_x) + free_y + ax_y
    prod = B.dimshuffle(x, *px) * B.dimshuffle(y, *py)
    return B.sum(prod, axis=tuple(range(prod.ndim - k, prod.ndim)))

# ---- constructors --------------------------------------------------------------------------


def _floatx(dtype: str | None) -> str:
    return config.floatX if dtype in (None, "floatX") else np.dtype(dtype).name


def tri(N: Any, M: Any = None, k: int = 0, dtype: str | None = None) -> Variable:
    """Ones at and below the k-th diagonal of an N x M matrix."""
    M = N if M is None else M
    rows, cols = B.arange(N), B.arange(M)
    return B.cast(B.ge(B.shape_padright(rows) + k, B.shape_padleft(cols)), _floatx(dtype))


def eye(n: Any, m: Any = None, k: int = 0, dtype: str | None = None) -> Variable:
    """An n x m matrix with ones on the k-th diagonal."""
    m = n if m is None else m
    rows, cols = B.arange(n), B.arange(m)
    return B.cast(B.eq(B.shape_padright(rows) + k, B.shape_padleft(cols)), _floatx(dtype))


def identity_like(x: Any) -> Variable:
    x = as_tensor_variable(x)
    return eye(x.shape[0], x.shape[1], k=0, dtype=x.dtype)


def tril(m: Any, k: int = 0) -> Variable:
    """``m`` with the elements above the k-th diagonal zeroed."""
    m = as_tensor_variable(m)
    return m * tri(m.shape[0], m.shape[1], k=k, dtype=m.dtype)


def triu(m: Any, k: int = 0) -> Variable:
    """``m`` with the elements below the k-th diagonal zeroed."""
    m = as_tensor_variable(m)
    return m * (1 - tri(m.shape[0], m.shape[1], k=k - 1, dtype=m.dtype))


def tile(x: Any, reps: Sequence[int], ndim: int | None = None) -> Variable:
    """``x`` repeated ``reps[i]`` times along each axis (NumPy's tile, integer reps)."""
    x = as_tensor_variable(x)
    reps = [reps] if isinstance(reps, (int, np.integer)) else list(reps)
    ndim = ndim or builtins.max(len(reps), x.ndim)
    if x.ndim < ndim:
        x = B.shape_padleft(x, ndim - x.ndim)
    reps = [1] * (ndim - len(reps)) + reps
    dims = S.shape_of(x)
    pattern = [p for a in range(ndim) for p in ("x", a)]
    big = B.alloc(B.dimshuffle(x, *pattern), *[s for a in range(ndim) for s in (reps[a], dims[a])])
    return B.reshape(big, [reps[a] * dims[a] for a in range(ndim)])


def stacklists(arg: Any) -> Variable:
    """A tensor from nested lists of scalars or tensors (nested stack)."""
    if isinstance(arg, (list, tuple)):
        return B.stack([stacklists(a) for a in arg])
    return as_tensor_variable(arg)


class _Grid:
    """``mgrid[0:3, 0:4]`` / ``ogrid[...]``: arange per slice, broadcast (mgrid) or not."""

    def __init__(self, sparse: bool) -> None:
        self.sparse = sparse

    def __getitem__(self, index: Any) -> list[Variable]:
        index = index if isinstance(index, tuple) else (index,)
        ranges = [B.arange(s.start or 0, s.stop, s.step or 1) for s in index]
        n = len(ranges)
        out = []
        for i, r in enumerate(ranges):
            pattern = ["x"] * n
            pattern[i] = 0
            shaped = B.dimshuffle(r, *pattern)
            if not self.sparse:
                shaped = B.alloc(shaped, *[q.shape[0] for q in ranges])
            out.append(shaped)
        return out


mgrid, ogrid = _Grid(False), _Grid(True)

# ---- reductions and rearrangements ---------------------------------------------------------


def ptp(a: Any, axis: Any = None) -> Variable:
    """max - min along ``axis``."""
    return B.max(a, axis) - B.min(a, axis)


def swapaxes(y: Any, axis1: int, axis2: int) -> Variable:
    y = as_tensor_variable(y)
    order = list(range(y.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return B.dimshuffle(y, *order)


def choose(a: Any, choices: Sequence[Any], out: Any = None, mode: str = "raise") -> Variable:
    """``choices[a[i]][i]`` elementwise (NumPy's choose with a list of choices)."""
    if out is not None or mode != "raise":
        raise ValueError("choose: only out=None and mode='raise' are supported")
    a = as_tensor_variable(a)
    result = as_tensor_variable(choices[-1])
    for k in range(len(choices) - 2, -1, -1):
        result = B.switch(B.eq(a, k), choices[k], result)
    return result


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False,
        ddof: int | None = None, fweights: Any = None, aweights: Any = None) -> Variable:
    """Covariance matrix of the variables in the rows (columns if not rowvar) of ``m``."""
    if fweights is not None or aweights is not None:
        raise ValueError("cov: fweights and aweights are not supported")
    m = as_tensor_variable(m)
    if m.ndim == 1:
        m = B.shape_padleft(m)
    if not rowvar:
        m = m.T
    if y is not None:
        y = as_tensor_variable(y)
        y = B.shape_padleft(y) if y.ndim == 1 else y
        m = B.concatenate([m, y if rowvar else y.T], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = B.cast(m.shape[1], m.dtype if m.dtype.startswith("float") else "float64")
    centered = m - B.mean(m, axis=1, keepdims=True)
    return B.dot(centered, centered.T) / (n - ddof)


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """The ``offset`` diagonal of the matrix ``a``."""
    a = as_tensor_variable(a)
    if a.ndim != 2 or (axis1, axis2) != (0, 1):
        raise ValueError("diagonal: only the diagonals of a matrix are supported")
    start_r, start_c = (0, offset) if offset >= 0 else (-offset, 0)
    n = B.maximum(B.minimum(a.shape[0] - start_r, a.shape[1] - start_c), 0)
    i = B.arange(n)
    return a[i + start_r, i + start_c]


def trace(a: Any, offset: int = 0) -> Variable:
    return B.sum(diagonal(a, offset))


def nonzero(a: Any, return_matrix: bool = False) -> Any:
    """The indices of the non-zero elements: a tuple of one int vector per axis (or the
    (ndim, nnz) matrix when ``return_matrix``)."""
    a = as_tensor_variable(a)
    matrix = X.nonzero_op(a)
    if return_matrix:
        return matrix
    return tuple(matrix[i] for i in range(a.ndim))


def flatnonzero(a: Any) -> Variable:
    return X.nonzero_op(B.flatten(as_tensor_variable(a)))[0]


def nonzero_values(a: Any) -> Variable:
    a = as_tensor_variable(a)
    return B.flatten(a)[flatnonzero(a)]


def argsort(a: Any, axis: int | None = -1, kind: str = "quicksort",
            order: Any = None) -> Variable:
    """Indices that sort ``a`` along ``axis`` (stable)."""
    return X.argsort_op(a, axis=axis)


def sort(a: Any, axis: int | None = -1, kind: str = "quicksort", order: Any = None) -> Variable:
    """``a`` sorted along ``axis``: a gather by argsort, so the gradient follows the elements."""
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = B.flatten(a), 0
    axis %= a.ndim
    idx = X.argsort_op(a, axis=axis)
    grids = [B.dimshuffle(B.arange(a.shape[d]), *[0 if e == d else "x" for e in range(a.ndim)])
             for d in range(a.ndim)]
    grids[axis] = idx
    return a[tuple(grids)]


def inverse_permutation(perm: Any) -> Variable:
    """The permutation q with q[perm[i]] = i."""
    perm = as_tensor_variable(perm)
    return B.set_subtensor(B.zeros_like(perm)[perm], B.cast(B.arange(perm.shape[0]), perm.dtype))


def permute_row_elements(x: Any, y: Any, inverse: bool = False) -> Variable:
    """Each row of ``x`` permuted by the matching row of ``y`` (or ``y`` for every row)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if inverse:
        y = inverse_permutation(y) if y.ndim == 1 else _row_inverse(y)
    if x.ndim == 1:
        return x[y]
    if y.ndim == 1:
        return x[:, y]
    rows = B.shape_padright(B.arange(x.shape[0]))
    return x[rows, y]


def _row_inverse(y: Variable) -> Variable:
    rows = B.shape_padright(B.arange(y.shape[0]))
    cols = B.shape_padleft(B.cast(B.arange(y.shape[1]), y.dtype))
    return B.set_subtensor(B.zeros_like(y)[rows, y], B.alloc(cols, y.shape[0], y.shape[1]))


def specify_shape(x: Any, shape: Any) -> Variable:
    """``x`` with its static shape set where ``shape`` has constants (checked when it runs)."""
    x = as_tensor_variable(x)
    if isinstance(shape, Variable):
        if not isinstance(shape, Constant):
            return x
        shape = shape.data.tolist()
    shape = list(shape)
    if len(shape) != x.ndim:
        raise ValueError(f"specify_shape: {len(shape)} sizes for {x} with {x.ndim} dimensions")
    static = tuple(int(s) if isinstance(s, (int, np.integer)) else
                   (int(s.data) if isinstance(s, Constant) else None) for s in shape)
    return x if static == x.type.shape else X.specify_shape(x, shape=static)


def consider_constant(x: Any) -> Variable:
    """``x``, with a zero gradient (x stays connected, unlike disconnected_grad)."""
    return X.consider_constant_op(x)


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "builtins", "np", "config", "Constant", "Variable", "Any", "Sequence",
    "as_tensor_variable", "M", "X", "S", "B")]
