"""Sparse ops on SciPy csc/csr matrices (Theano's ``theano.sparse`` basics), CPU only.

Each op is one record (infer, kernel, grad) as in symconv.ops; kernels call SciPy, so they are
bound on the NumPy backend only: the CUDA backend refuses them with a clear error, constant
folding skips them and fusion never sees them (they are not elementwise). Gradients follow
Theano: ``dense_from_sparse`` and ``structured_dot`` give structured gradients (only at the
stored entries), ``dot`` a regular (dense) one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from symconv.backends.base import override
from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable
from symconv.ops.elemwise import upcast
from symconv.sparse.type import FORMATS, SparseConstant, SparseType


def is_sparse(x: Any) -> bool:
    """A symbolic sparse matrix (variable, constant or shared)."""
    return isinstance(x, Variable) and isinstance(x.type, SparseType)


def as_sparse_variable(x: Any, name: str | None = None) -> Variable:
    """``x`` as a symbolic sparse matrix: sparse variables pass through, SciPy csc/csr
    matrices become constants; anything else is a TypeError."""
    if is_sparse(x):
        return x
    if isinstance(x, Variable):
        raise TypeError(f"as_sparse_variable: {x} is a {x.type}, not a sparse matrix "
                        f"(convert it with csc_from_dense or csr_from_dense)")
    if sp.issparse(x) and x.format in FORMATS:
        return SparseConstant(SparseType(x.format, x.dtype), x, name)
    raise TypeError(f"as_sparse_variable: cannot make a sparse variable from "
                    f"{type(x).__name__} (expected a scipy.sparse csc or csr matrix)")


as_sparse = as_sparse_variable


def as_sparse_or_tensor_variable(x: Any, name: str | None = None) -> Variable:
    """A sparse variable for sparse values, else a tensor variable."""
    try:
        return as_sparse_variable(x, name)
    except TypeError:
        return as_tensor_variable(x, name)


def _need_sparse(op: str, t: Any, what: str = "input") -> SparseType:
    if not isinstance(t, SparseType):
        raise TypeError(f"sparse.{op}: {what} must be a sparse matrix, got {t}")
    return t


def _host_only(op: Op) -> Op:
    op.foldable = False   # its values are SciPy matrices, not arrays
    op.any_type = True    # it takes sparse inputs

    @override("cuda", op)
    def _refuse(backend: Any, node: Any) -> Any:
        raise NotImplementedError(
            f"sparse.{op.name[7:]} (created at {node.out.trace}) runs on the CPU only: SciPy "
            f"sparse matrices have no CUDA kernels in symconv; compile with device=cpu")
    return op


def _sparse_op(name: str, infer: Any, kernel: Any, grad: Any = None, **kw: Any) -> Op:
    return _host_only(Op("sparse_" + name, infer, kernel, grad, **kw))


# ---- properties and construction -------------------------------------------------------

def _prop_kernel(field: str) -> Any:
    def kernel(xp: Any, x: Any) -> Any:
        if field == "shape":
            return np.asarray(x.shape, dtype="int32")
        return getattr(x, field)
    return kernel


def _data_grad(g: Variable, out: Variable, x: Variable) -> list:
    return [csm(g, csm_indices(x), csm_indptr(x), csm_shape(x), format=x.type.format)]


csm_data = _sparse_op("csm_data", lambda t: TensorType(_need_sparse("csm_data", t).dtype,
                                                       (None,)),
                      _prop_kernel("data"), _data_grad, view=True)
csm_indices = _sparse_op("csm_indices", lambda t: TensorType("int32", (None,)),
                         _prop_kernel("indices"), differentiable=False, view=True)
csm_indptr = _sparse_op("csm_indptr", lambda t: TensorType("int32", (None,)),
                        _prop_kernel("indptr"), differentiable=False, view=True)
csm_shape = _sparse_op("csm_shape", lambda t: TensorType("int32", (2,)),
                       _prop_kernel("shape"), differentiable=False)


def csm_properties(x: Any) -> tuple[Variable, Variable, Variable, Variable]:
    """``(data, indices, indptr, shape)`` of a sparse matrix, as tensors."""
    x = as_sparse_variable(x)
    return csm_data(x), csm_indices(x), csm_indptr(x), csm_shape(x)


def _csm_infer(data: TensorType, indices: TensorType, indptr: TensorType, shape: TensorType,
               format: str) -> SparseType:
    for name, t in (("data", data), ("indices", indices), ("indptr", indptr)):
        if t.ndim != 1:
            raise TypeError(f"sparse.CSM: {name} must be a vector, got {t}")
    if shape.ndim != 1 or shape.shape[0] not in (None, 2):
        raise TypeError(f"sparse.CSM: shape must be a vector of length 2, got {shape}")
    return SparseType(format, data.dtype)


def _csm_kernel(xp: Any, data: Any, indices: Any, indptr: Any, shape: Any, format: str) -> Any:
    # copied: the executor may reuse a dead input buffer for a later result, and a matrix
    # holding that buffer (a returned output) must not change under the caller
    return FORMATS[format]((data, indices, indptr), shape=tuple(int(s) for s in shape),
                           copy=True)


def _positions(x: Any, indices: Any, indptr: Any, format: str) -> tuple[Any, Any]:
    """Row and column of each stored entry of a compressed matrix (in data order)."""
    major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return (indices, major) if format == "csc" else (major, indices)


def _gather_kernel(xp: Any, g: Any, indices: Any, indptr: Any, shape: Any,
                   format: str) -> Any:
    rows, cols = _positions(g, indices, indptr, format)
    if sp.issparse(g):
        return np.asarray(g.tocsr()[rows, cols]).ravel()
    return np.asarray(g)[rows, cols]


def _gather_grad(g: Variable, out: Variable, src: Variable, indices: Variable,
                 indptr: Variable, shape: Variable, format: str) -> list:
    # scatter-add back into the source's shape (toarray sums duplicate entries)
    grad = dense_from_sparse(csm(g, indices, indptr, shape, format=format))
    if is_sparse(src):
        grad = sparse_from_dense(grad, format=src.type.format)
    return [grad, None, None, None]


# gather(g, pattern) -> g's values at the pattern's stored entries, in data order
gather = _sparse_op("gather", lambda g, i, p, s, format: TensorType(g.dtype, (None,)),
                    _gather_kernel, _gather_grad)


def _csm_grad(g: Variable, out: Variable, data: Variable, indices: Variable,
              indptr: Variable, shape: Variable, format: str) -> list:
    return [gather(g, indices, indptr, shape, format=format), None, None, None]


csm = _sparse_op("csm", _csm_infer, _csm_kernel, _csm_grad)


def CSC(data: Any, indices: Any, indptr: Any, shape: Any) -> Variable:
    """A csc matrix from its properties (Theano's ``sparse.CSC``)."""
    return csm(data, indices, indptr, shape, format="csc")


def CSR(data: Any, indices: Any, indptr: Any, shape: Any) -> Variable:
    """A csr matrix from its properties (Theano's ``sparse.CSR``)."""
    return csm(data, indices, indptr, shape, format="csr")


# ---- dense <-> sparse ------------------------------------------------------------------

def _dfs_grad(g: Variable, out: Variable, x: Variable) -> list:
    # structured, as Theano's default: the gradient lives on x's stored entries only
    return [mul(sp_ones_like(x), g)]


dense_from_sparse = _sparse_op(
    "dense_from_sparse",
    lambda t: TensorType(_need_sparse("dense_from_sparse", t).dtype, (None, None)),
    lambda xp, x: x.toarray(), _dfs_grad)


def _sfd_infer(t: TensorType, format: str) -> SparseType:
    if not isinstance(t, TensorType) or t.ndim != 2:
        raise TypeError(f"sparse.{format}_from_dense: expected a dense matrix, got {t}")
    return SparseType(format, t.dtype)


def _sfd_grad(g: Variable, out: Variable, x: Variable, format: str) -> list:
    return [dense_from_sparse(g) if is_sparse(g) else g]


sparse_from_dense = _sparse_op("sparse_from_dense", _sfd_infer,
                               lambda xp, x, format: FORMATS[format](x), _sfd_grad)


def csc_from_dense(x: Any) -> Variable:
    """A dense matrix as a csc matrix."""
    return sparse_from_dense(x, format="csc")


def csr_from_dense(x: Any) -> Variable:
    """A dense matrix as a csr matrix."""
    return sparse_from_dense(x, format="csr")


def _like_infer(t: SparseType) -> SparseType:
    return _need_sparse("sp_ones_like", t)


def _ones_like(xp: Any, x: Any) -> Any:
    out = x.copy()
    out.data = np.ones_like(out.data)
    return out


sp_ones_like = _sparse_op("sp_ones_like", _like_infer, _ones_like,
                          lambda g, out, x: [None])
sp_zeros_like = _sparse_op("sp_zeros_like", _like_infer,
                           lambda xp, x: FORMATS[x.format](x.shape, dtype=x.dtype),
                           lambda g, out, x: [None])


def _cast_kernel(xp: Any, x: Any, dtype: str) -> Any:
    return x.astype(dtype)


def _cast_grad(g: Variable, out: Variable, x: Variable, dtype: str) -> list:
    return [cast(g, x.dtype) if is_sparse(g) else g.astype(x.dtype)]


_cast = _sparse_op("cast", lambda t, dtype: SparseType(_need_sparse("cast", t).format, dtype),
                   _cast_kernel, _cast_grad)


def cast(x: Any, dtype: str) -> Variable:
    """A sparse matrix converted to ``dtype``."""
    x = as_sparse_variable(x)
    return x if x.dtype == dtype else _cast(x, dtype=SparseType(x.type.format, dtype).dtype)


# ---- structure-preserving ops ------------------------------------------------------------

def _swap(t: SparseType) -> SparseType:
    return SparseType("csr" if _need_sparse("transpose", t).format == "csc" else "csc", t.dtype)


transpose = _sparse_op("transpose", _swap, lambda xp, x: x.T,
                       lambda g, out, x: [transpose(g) if is_sparse(g) else g.T], view=True)
neg = _sparse_op("neg", _like_infer, lambda xp, x: -x, lambda g, out, x: [-g])


def _sum_infer(t: SparseType, axis: int | None, sparse_grad: bool) -> TensorType:
    if axis not in (None, 0, 1):
        raise ValueError(f"sparse.sp_sum: axis must be None, 0 or 1, got {axis!r}")
    return TensorType(_need_sparse("sp_sum", t).dtype, () if axis is None else (None,))


def _sum_kernel(xp: Any, x: Any, axis: int | None, sparse_grad: bool) -> Any:
    total = x.sum() if axis is None else np.asarray(x.sum(axis)).ravel()
    return np.asarray(total, dtype=x.dtype)


def _sum_grad(g: Variable, out: Variable, x: Variable, axis: int | None,
              sparse_grad: bool) -> list:
    import symconv.tensor as T
    ones = T.ones_like(dense_from_sparse(x))
    dense = ones * (g if axis is None else g.dimshuffle(*(("x", 0) if axis == 0 else (0, "x"))))
    if sparse_grad:   # structured: on x's stored entries only
        return [mul(sp_ones_like(x), dense)]
    return [sparse_from_dense(dense, format=x.type.format)]


_sp_sum = _sparse_op("sp_sum", _sum_infer, _sum_kernel, _sum_grad)


def sp_sum(x: Any, axis: int | None = None, sparse_grad: bool = False) -> Variable:
    """The sum of a sparse matrix over ``axis`` (None: all), as a dense tensor."""
    return _sp_sum(as_sparse_variable(x), axis=axis, sparse_grad=bool(sparse_grad))


# ---- elementwise ---------------------------------------------------------------------

def _binary_infer(name: str, sparse_out: bool) -> Any:
    def infer(a: Any, b: Any) -> Any:
        first = _need_sparse(name, a, "the first input")
        dtype = upcast(a.dtype, b.dtype)
        if isinstance(b, TensorType) and b.ndim != 2:
            raise TypeError(f"sparse.{name}: the dense operand must be a matrix, got {b}")
        return SparseType(first.format, dtype) if sparse_out else TensorType(dtype,
                                                                            (None, None))
    return infer


def _as_format(value: Any, like: Any, dtype: Any) -> Any:
    return sp.csr_matrix(value).asformat(like.format).astype(dtype, copy=False)


add_s_s = _sparse_op("add_s_s", _binary_infer("add", True),
                     lambda xp, a, b: _as_format(a + b, a, np.result_type(a.dtype, b.dtype)),
                     lambda g, out, a, b: [g, g])
add_s_d = _sparse_op("add_s_d", _binary_infer("add", False),
                     lambda xp, a, b: np.asarray(a + b), lambda g, out, a, b:
                     [mul(sp_ones_like(a), g), g])
mul_s_s = _sparse_op("mul_s_s", _binary_infer("mul", True),
                     lambda xp, a, b: _as_format(a.multiply(b), a,
                                                 np.result_type(a.dtype, b.dtype)),
                     lambda g, out, a, b: [mul(b, g), mul(a, g)])


def _mul_sd_kernel(xp: Any, a: Any, b: Any) -> Any:
    # a's structure, each stored entry times b at its position (b broadcasts as NumPy's)
    b = np.broadcast_to(b, a.shape)
    out = a.copy().astype(np.result_type(a.dtype, b.dtype))
    rows, cols = _positions(a, a.indices, a.indptr, a.format)
    out.data = out.data * b[rows, cols]
    return out


mul_s_d = _sparse_op("mul_s_d", _binary_infer("mul", True), _mul_sd_kernel,
                     lambda g, out, a, b: [mul(g, b), dense_from_sparse(mul(a, g))])


def add(x: Any, y: Any) -> Variable:
    """``x + y`` with at least one sparse operand: sparse + sparse is sparse, sparse + dense
    is dense (Theano's ``sparse.add``)."""
    x, y = as_sparse_or_tensor_variable(x), as_sparse_or_tensor_variable(y)
    if is_sparse(x) and is_sparse(y):
        return add_s_s(x, y)
    if is_sparse(y):
        x, y = y, x
    if not is_sparse(x):
        raise TypeError(f"sparse.add: one operand must be sparse, got {x.type} and {y.type}")
    if y.ndim != 2:
        raise NotImplementedError(f"sparse.add: the dense operand must be a matrix, got {y.type}"
                                  " (use structured_add for a scalar on the stored entries)")
    return add_s_d(x, y)


def sub(x: Any, y: Any) -> Variable:
    """``x - y`` with at least one sparse operand."""
    return add(x, -as_sparse_or_tensor_variable(y))


def mul(x: Any, y: Any) -> Variable:
    """``x * y`` (elementwise) with at least one sparse operand: the result is sparse."""
    x, y = as_sparse_or_tensor_variable(x), as_sparse_or_tensor_variable(y)
    if is_sparse(x) and is_sparse(y):
        return mul_s_s(x, y)
    if is_sparse(y):
        x, y = y, x
    if not is_sparse(x):
        raise TypeError(f"sparse.mul: one operand must be sparse, got {x.type} and {y.type}")
    if y.ndim < 2:
        y = y.dimshuffle(("x",) * (2 - y.ndim) + tuple(range(y.ndim)))
    return mul_s_d(x, y)


def _structured(fn: Any) -> Any:
    """Theano's structured_monoid: ``fn`` applied to the stored entries only; the gradient
    follows from csm and csm_data (it is structured as well)."""
    def apply_to_data(x: Any, *args: Any) -> Variable:
        x = as_sparse_variable(x)
        data, indices, indptr, shape = csm_properties(x)
        return csm(fn(data, *args), indices, indptr, shape, format=x.type.format)
    apply_to_data.__doc__ = f"``{fn.__name__}`` of the stored entries of a sparse matrix."
    return apply_to_data


def _t():
    import symconv.tensor as T
    return T


structured_add = _structured(lambda data, y: data + y)
structured_sigmoid = _structured(lambda data: _t().nnet.sigmoid(data))
structured_exp = _structured(lambda data: _t().exp(data))
structured_log = _structured(lambda data: _t().log(data))
structured_pow = _structured(lambda data, y: data ** y)
structured_minimum = _structured(lambda data, y: _t().minimum(data, y))
structured_maximum = _structured(lambda data, y: _t().maximum(data, y))
sqr = _structured(lambda data: data * data)
sqrt = _structured(lambda data: _t().sqrt(data))
abs_ = _structured(lambda data: abs(data))


# ---- products --------------------------------------------------------------------------

def _product_kernel(xp: Any, a: Any, b: Any) -> Any:
    out = a @ b
    if sp.issparse(out):
        out = out.toarray()
    return np.asarray(out, dtype=np.result_type(a.dtype, b.dtype))


def _dot_infer(a: Any, b: Any) -> TensorType:
    if not (isinstance(a, SparseType) or isinstance(b, SparseType)):
        raise TypeError(f"sparse.dot: one operand must be sparse, got {a} and {b}")
    for name, t in (("first", a), ("second", b)):
        if t.ndim != 2:
            raise TypeError(f"sparse.dot: the {name} operand must be a matrix, got {t}")
    return TensorType(upcast(a.dtype, b.dtype), (None, None))


def _dense_dot(a: Variable, b: Variable) -> Variable:
    return _dot(a, b) if is_sparse(a) or is_sparse(b) else _t().dot(a, b)


def _dot_grad(g: Variable, out: Variable, a: Variable, b: Variable) -> list:
    # regular (dense) gradients, as Theano's sparse.dot
    return [_dense_dot(g, b.T), _dense_dot(a.T, g)]


_dot = _sparse_op("dot", _dot_infer, _product_kernel, _dot_grad)


def dot(x: Any, y: Any) -> Variable:
    """Matrix product with at least one sparse operand; the result is dense and the
    gradients are regular (dense), as Theano's ``sparse.dot``."""
    return _dot(as_sparse_or_tensor_variable(x), as_sparse_or_tensor_variable(y))


def _sampled_dot_kernel(xp: Any, g: Any, b: Any, indices: Any, indptr: Any,
                        format: str) -> Any:
    rows, cols = _positions(None, indices, indptr, format)
    dtype = np.result_type(g.dtype, b.dtype)
    if sp.issparse(g) or sp.issparse(b):   # row by row products of sparse rows
        g, b = sp.csr_matrix(g), sp.csr_matrix(b)
        return np.asarray(g[rows].multiply(b[cols]).sum(axis=1), dtype=dtype).ravel()
    return np.einsum("ij,ij->i", g[rows], b[cols]).astype(dtype)


# (g @ b.T) at a's stored entries, without forming g @ b.T; structured_dot's gradient
sampled_dot = _sparse_op("sampled_dot", lambda g, b, i, p, format: TensorType(
    upcast(g.dtype, b.dtype), (None,)), _sampled_dot_kernel, differentiable=False)


def _sdot_infer(a: Any, b: Any) -> TensorType:
    _need_sparse("structured_dot", a, "the first input")
    if not isinstance(b, TensorType) or b.ndim != 2:
        raise TypeError(f"sparse.structured_dot: the second input must be a dense matrix, got "
                        f"{b}")
    return TensorType(upcast(a.dtype, b.dtype), (None, b.shape[1]))


def _sdot_grad(g: Variable, out: Variable, a: Variable, b: Variable) -> list:
    fmt = a.type.format
    data = sampled_dot(g, b, csm_indices(a), csm_indptr(a), format=fmt)
    ga = csm(data, csm_indices(a), csm_indptr(a), csm_shape(a), format=fmt)
    return [cast(ga, a.dtype) if ga.dtype != a.dtype else ga, structured_dot(a.T, g)]


_structured_dot = _sparse_op("structured_dot", _sdot_infer, _product_kernel, _sdot_grad)


def _sdot_ss_infer(a: Any, b: Any) -> SparseType:
    _need_sparse("structured_dot", a, "the first input")
    _need_sparse("structured_dot", b, "the second input")
    return SparseType(a.format, upcast(a.dtype, b.dtype))


def _sdot_ss_kernel(xp: Any, a: Any, b: Any) -> Any:
    return _as_format(a @ b, a, np.result_type(a.dtype, b.dtype))


# sparse times sparse: a sparse result in the first input's format (Theano's StructuredDot)
_structured_dot_ss = _sparse_op("structured_dot_ss", _sdot_ss_infer, _sdot_ss_kernel,
                                _sdot_grad)


def structured_dot(x: Any, y: Any) -> Variable:
    """Sparse ``x`` times ``y``: dense for a dense ``y``, sparse (x's format) for a sparse one;
    the gradient with respect to ``x`` is structured (only at x's stored entries), as
    Theano's ``structured_dot``."""
    x = as_sparse_variable(x)
    y = as_sparse_or_tensor_variable(y)
    if is_sparse(y):
        return _structured_dot_ss(x, y)
    return _structured_dot(x, y)


def sparse_constant(value: Any, name: str | None = None) -> Constant:
    """A constant sparse matrix (Theano's ``sparse.constant``)."""
    return as_sparse_variable(value, name)


# the public API: this module's functions and op records (imported names stay out)
_IMPORTED = {"Any", "Constant", "Op", "TensorType", "Variable", "as_tensor_variable"}
__all__ = sorted(name for name, value in list(globals().items())
                 if not name.startswith("_") and name not in _IMPORTED
                 and getattr(value, "__module__", None) in (__name__, "symconv.graph"))
