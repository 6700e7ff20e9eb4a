"""More of Theano's sparse API, built on symconv.sparse.basic: the elementwise monoids on the
stored entries (``sin``, ``tanh``, ``log1p``, ...), ``col_scale``/``row_scale``, the dtype casts
(``fcast``, ...), and ``hstack``/``vstack``."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from symconv.graph import Variable
from symconv.ops.elemwise import upcast
from symconv.sparse.basic import (_sparse_op, _structured, as_sparse_variable, cast,
                                  csm_shape, is_sparse, mul, sparse_from_dense)
from symconv.sparse.type import FORMATS, SparseType


def _t() -> Any:
    import symconv.tensor as T
    return T


# Theano's tensor functions of the monoids symconv.tensor spells otherwise
_TENSOR_FORMS = {"rint": lambda T, x: T.round_half_to_even(x),
                 "trunc": lambda T, x: T.sgn(x) * T.floor(abs(x))}


def _monoid(name: str) -> Any:
    form = _TENSOR_FORMS.get(name, lambda T, x: getattr(T, name)(x))
    fn = _structured(lambda data: form(_t(), data))
    fn.__name__ = name
    fn.__doc__ = f"``{name}`` of the stored entries of a sparse matrix (structured)."
    return fn


sin, arcsin, tan, arctan = (_monoid(n) for n in ("sin", "arcsin", "tan", "arctan"))
sinh, arcsinh, tanh, arctanh = (_monoid(n) for n in ("sinh", "arcsinh", "tanh", "arctanh"))
rad2deg, deg2rad, rint, ceil = (_monoid(n) for n in ("rad2deg", "deg2rad", "rint", "ceil"))
floor, trunc, sgn = (_monoid(n) for n in ("floor", "trunc", "sgn"))
log1p, expm1 = _monoid("log1p"), _monoid("expm1")


def col_scale(x: Any, s: Any) -> Variable:
    """Column j of sparse ``x`` times ``s[j]`` (a dense vector); x's structure is kept."""
    return mul(as_sparse_variable(x), _t().as_tensor_variable(s).dimshuffle("x", 0))


def row_scale(x: Any, s: Any) -> Variable:
    """Row i of sparse ``x`` times ``s[i]`` (a dense vector); x's structure is kept."""
    return mul(as_sparse_variable(x), _t().as_tensor_variable(s).dimshuffle(0, "x"))


def _caster(dtype: str) -> Any:
    def to(x: Any) -> Variable:
        return cast(x, dtype)
    to.__doc__ = f"A sparse matrix converted to {dtype}."
    return to


bcast, wcast, icast, lcast = (_caster(d) for d in ("int8", "int16", "int32", "int64"))
fcast, dcast = _caster("float32"), _caster("float64")
ccast, zcast = _caster("complex64"), _caster("complex128")


# ---- concatenation --------------------------------------------------------------------------

def _stack_infer(*types: Any, axis: int, format: str, dtype: str) -> SparseType:
    for i, t in enumerate(types):
        if not isinstance(t, SparseType):
            raise TypeError(f"sparse.{'hstack' if axis else 'vstack'}: block {i} must be a "
                            f"sparse matrix, got {t}")
    return SparseType(format, dtype)


def _stack_kernel(xp: Any, *blocks: Any, axis: int, format: str, dtype: str) -> Any:
    join = sp.hstack if axis else sp.vstack
    return FORMATS[format](join(blocks, format=format, dtype=dtype))


def _stack_grad(g: Variable, out: Variable, *blocks: Variable, axis: int, format: str,
                dtype: str) -> list:
    T = _t()
    dense = _dense(g)
    grads, start = [], 0
    for block in blocks:
        stop = start + csm_shape(block)[axis]
        part = dense[:, start:stop] if axis else dense[start:stop]
        grads.append(sparse_from_dense(T.cast(part, block.dtype), format=block.type.format)
                     if block.dtype[0] in "fc" else None)
        start = stop
    return grads


def _dense(g: Variable) -> Variable:
    from symconv.sparse.basic import dense_from_sparse
    return dense_from_sparse(g) if is_sparse(g) else g


_stack = _sparse_op("stack", _stack_infer, _stack_kernel, _stack_grad)


def _stack_blocks(blocks: Sequence[Any], axis: int, format: str | None,
                  dtype: str | None) -> Variable:
    blocks = [as_sparse_variable(b) for b in blocks]
    if not blocks:
        raise ValueError("sparse.hstack/vstack: give at least one block")
    dtype = dtype or upcast(*[b.dtype for b in blocks])
    return _stack(*blocks, axis=axis, format=format or "csc", dtype=np.dtype(dtype).name)


def hstack(blocks: Sequence[Any], format: str | None = None, dtype: str | None = None
           ) -> Variable:
    """Sparse matrices side by side (``scipy.sparse.hstack``), csc unless ``format`` says
    otherwise (as Theano); the gradient is regular (dense blocks made sparse)."""
    return _stack_blocks(blocks, 1, format, dtype)


def vstack(blocks: Sequence[Any], format: str | None = None, dtype: str | None = None
           ) -> Variable:
    """Sparse matrices one above the other (``scipy.sparse.vstack``)."""
    return _stack_blocks(blocks, 0, format, dtype)


__all__ = ["sin", "arcsin", "tan", "arctan", "sinh", "arcsinh", "tanh", "arctanh", "rad2deg",
           "deg2rad", "rint", "ceil", "floor", "trunc", "sgn", "log1p", "expm1", "col_scale",
           "row_scale", "bcast", "wcast", "icast", "lcast", "fcast", "dcast", "ccast", "zcast",
           "hstack", "vstack"]


# ---- indexing: x[i, j] (a scalar) and x[a:b, c:d] (a sparse matrix), as Theano's ----------

def _item_infer(x: Any, *idx: Any, spec: tuple) -> Any:
    from symconv.graph import TensorType
    kinds = tuple(entry[0] for entry in spec)
    if kinds == ("int", "int"):
        return TensorType(x.dtype, ())
    if kinds == ("slice", "slice"):
        return SparseType(x.format, x.dtype)
    raise NotImplementedError(f"sparse indexing supports x[i, j] and x[a:b, c:d] (as Theano), "
                              f"not {kinds}")


def _item_kernel(xp: Any, x: Any, *idx: Any, spec: tuple) -> Any:
    from symconv.ops.index import build_index
    index = build_index(spec, idx)
    if spec[0][0] == "int":
        return np.asarray(x[index], dtype=x.dtype)
    return x[index]


_get_item = _sparse_op("get_item", _item_infer, _item_kernel, differentiable=False)


def get_item(x: Any, index: Any) -> Variable:
    """``x[i, j]`` (a dense scalar), ``x[a:b:c, d:e:f]`` or ``x[a:b]`` (a sparse matrix of x's
    format); bounds may be ints or int scalar variables. Not differentiable, as in Theano."""
    from symconv.ops.index import parse_index
    x = as_sparse_variable(x)
    if isinstance(index, slice):   # x[a:b]: rows
        index = (index, slice(None))
    if not isinstance(index, tuple) or len(index) != 2:
        raise NotImplementedError("sparse indexing supports x[i, j], x[a:b, c:d] and x[a:b] "
                                  f"(as Theano), got {index!r}")
    spec, inputs = parse_index(x, index)
    return _get_item(x, *inputs, spec=spec)


__all__ += ["get_item"]


# ---- comparisons: uint8 results, sparse for two sparse operands, dense with a dense one ------

_SWAPPED = {"eq": "eq", "neq": "neq", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
_COMPARE = {"eq": np.equal, "neq": np.not_equal, "lt": np.less, "gt": np.greater,
            "le": np.less_equal, "ge": np.greater_equal}


def _compare_infer(x: Any, y: Any, op: str) -> Any:
    from symconv.graph import TensorType
    if not isinstance(x, SparseType):
        raise TypeError(f"sparse.{op}: the first operand must be sparse, got {x}")
    if isinstance(y, SparseType):
        if y.format != x.format:
            raise NotImplementedError(f"sparse.{op}: both sparse operands must have one format, "
                                      f"got {x.format} and {y.format} (as Theano)")
        return SparseType(x.format, "uint8")
    if y.ndim != 2:
        raise TypeError(f"sparse.{op}: the dense operand must be a matrix, got {y}")
    return TensorType("uint8", (None, None))


def _compare_kernel(xp: Any, x: Any, y: Any, op: str) -> Any:
    import warnings
    with warnings.catch_warnings():   # scipy warns that == of sparse matrices is dense-ish
        warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
        method = {"eq": "__eq__", "neq": "__ne__", "lt": "__lt__", "gt": "__gt__",
                  "le": "__le__", "ge": "__ge__"}[op]
        result = getattr(x, method)(y)
    if sp.issparse(result):
        return FORMATS[x.format](result).astype("uint8")
    return np.asarray(result).astype("uint8")


_compare = _sparse_op("compare", _compare_infer, _compare_kernel, differentiable=False)


def _comparison(op: str) -> Any:
    def compare(x: Any, y: Any) -> Variable:
        from symconv.sparse.basic import as_sparse_or_tensor_variable
        x, y = as_sparse_or_tensor_variable(x), as_sparse_or_tensor_variable(y)
        if not is_sparse(x):
            if not is_sparse(y):
                raise TypeError(f"sparse.{op}: one operand must be sparse")
            x, y, name = y, x, _SWAPPED[op]
        else:
            name = op
        return _compare(x, y, op=name)
    compare.__name__ = op
    compare.__doc__ = (f"Elementwise ``{op}`` with at least one sparse operand: uint8, sparse "
                       f"when both are sparse (same format), else dense (as Theano).")
    return compare


eq, neq, lt, gt, le, ge = (_comparison(op) for op in ("eq", "neq", "lt", "gt", "le", "ge"))
__all__ += ["eq", "neq", "lt", "gt", "le", "ge"]


# ---- diagonals, internal representation, true_dot and sampling_dot -----------------------

def _diag_infer(t: Any) -> Any:
    from symconv.graph import TensorType
    if not isinstance(t, SparseType):
        raise TypeError(f"sparse.diag: expected a sparse matrix, got {t}")
    return TensorType(t.dtype, (None,))


diag = _sparse_op("diag", _diag_infer, lambda xp, x: np.asarray(x.diagonal()),
                  lambda g, out, x: [square_diagonal(g)])


def _square_infer(t: Any) -> SparseType:
    if getattr(t, "ndim", None) != 1 or isinstance(t, SparseType):
        raise TypeError(f"sparse.square_diagonal: expected a vector, got {t}")
    return SparseType("csc", t.dtype)


square_diagonal = _sparse_op(
    "square_diagonal", _square_infer,
    lambda xp, v: sp.csc_matrix((np.array(v), np.arange(len(v)), np.arange(len(v) + 1)),
                                shape=(len(v), len(v))),
    lambda g, out, v: [diag(g)])
square_diagonal.any_type = False   # its input is a dense vector


def _same_type(name: str) -> Any:
    def infer(t: Any) -> SparseType:
        if not isinstance(t, SparseType):
            raise TypeError(f"sparse.{name}: expected a sparse matrix, got {t}")
        return t
    return infer


def _sorted(xp: Any, x: Any) -> Any:
    out = x.copy()
    out.sort_indices()
    return out


def _without_zeros(xp: Any, x: Any) -> Any:
    out = x.copy()
    out.eliminate_zeros()
    return out


ensure_sorted_indices = _sparse_op("ensure_sorted_indices", _same_type("ensure_sorted_indices"),
                                   _sorted, lambda g, out, x: [g])
remove0 = _sparse_op("remove0", _same_type("remove0"), _without_zeros, lambda g, out, x: [g])


def clean(x: Any) -> Variable:
    """``x`` with its indices sorted and its stored zeros removed."""
    return ensure_sorted_indices(remove0(as_sparse_variable(x)))


def _true_dot_infer(x: Any, y: Any, grad_preserves_dense: bool) -> SparseType:
    if not isinstance(x, SparseType):
        raise TypeError(f"sparse.true_dot: the first operand must be sparse, got {x}")
    if x.dtype != y.dtype:
        raise NotImplementedError(f"sparse.true_dot: operands of dtypes {x.dtype} and {y.dtype} "
                                  f"(Theano needs one dtype)")
    return SparseType(x.format, x.dtype)


def _true_dot_kernel(xp: Any, x: Any, y: Any, grad_preserves_dense: bool) -> Any:
    out = x @ y
    return FORMATS[x.format](out).astype(x.dtype, copy=False)


def _true_dot_grad(g: Variable, out: Variable, x: Variable, y: Variable,
                   grad_preserves_dense: bool) -> list:
    gx, gy = true_dot(g, y.T, grad_preserves_dense), true_dot(x.T, g, grad_preserves_dense)
    if not is_sparse(y) and grad_preserves_dense:
        gy = _dense(gy)
    return [gx, gy]


_true_dot = _sparse_op("true_dot", _true_dot_infer, _true_dot_kernel, _true_dot_grad)


def true_dot(x: Any, y: Any, grad_preserves_dense: bool = True) -> Variable:
    """Matrix product with a sparse result (regular gradient, as Theano's ``true_dot``)."""
    from symconv.sparse.basic import as_sparse_or_tensor_variable, transpose
    x, y = as_sparse_or_tensor_variable(x), as_sparse_or_tensor_variable(y)
    if is_sparse(x):
        return _true_dot(x, y, grad_preserves_dense=bool(grad_preserves_dense))
    if not is_sparse(y):
        raise TypeError("sparse.true_dot: one operand must be sparse")
    return transpose(_true_dot(y.T, x.T, grad_preserves_dense=bool(grad_preserves_dense)))


def _sampling_infer(x: Any, y: Any, p: Any) -> SparseType:
    from symconv.graph import TensorType
    if not (isinstance(x, TensorType) and isinstance(y, TensorType) and x.ndim == y.ndim == 2):
        raise TypeError(f"sparse.sampling_dot: x and y must be dense matrices, got {x}, {y}")
    if not isinstance(p, SparseType):
        raise TypeError(f"sparse.sampling_dot: p must be sparse, got {p}")
    return SparseType(p.format, upcast(x.dtype, y.dtype, p.dtype))


def _sampling_kernel(xp: Any, x: Any, y: Any, p: Any) -> Any:
    dtype = np.result_type(x.dtype, y.dtype, p.dtype)
    return FORMATS[p.format](p.multiply(np.dot(x, y.T))).astype(dtype, copy=False)


def _sampling_grad(g: Variable, out: Variable, x: Variable, y: Variable, p: Variable) -> list:
    from symconv.sparse.basic import dot
    # d(p * (x y^T)) = dp * (x y^T) + p * (dx y^T + x dy^T); Theano has no gradient for p
    pg = mul(p, g)
    return [dot(pg, y), dot(pg.T, x), sampling_dot(x, y, g) if is_sparse(g) else None]


sampling_dot = _sparse_op("sampling_dot", _sampling_infer, _sampling_kernel, _sampling_grad)
__all__ += ["diag", "square_diagonal", "ensure_sorted_indices", "remove0", "clean", "true_dot",
            "sampling_dot"]
