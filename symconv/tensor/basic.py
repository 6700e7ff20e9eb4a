"""The Theano-facing tensor functions: constructors, math, reductions, shape ops, indexing."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from symconv.config import config
from symconv.graph import (Constant, TensorType, Variable, as_tensor_variable, constant,
                           is_literal)
from symconv.ops import elemwise as E
from symconv.ops import index as I
from symconv.ops import reduce as R
from symconv.ops import shape as S
from symconv.ops.linalg import dot as _dot

# ---- constructors -------------------------------------------------------------------------


def tensor(dtype: str | None = None, broadcastable: Sequence[bool] | None = None,
           name: str | None = None, shape: Sequence[int | None] | None = None) -> Variable:
    """A symbolic input of ``dtype`` (default floatX) with a broadcastable pattern or shape."""
    dtype = config.floatX if dtype in (None, "floatX") else dtype
    if shape is None and broadcastable is None:
        raise TypeError("tensor() needs a broadcastable pattern or a shape")
    return Variable(TensorType(dtype, shape, broadcastable), None, name)


def _maker(ndim: int, default_dtype: str | None, pattern: tuple | None = None):
    def make(name: str | None = None, dtype: str | None = None,
             shape: Sequence[int | None] | None = None) -> Variable:
        dtype = dtype or default_dtype
        bcast = pattern if pattern is not None else (False,) * ndim
        if shape is not None:
            return tensor(dtype, name=name, shape=shape)
        return tensor(dtype, bcast, name=name)
    return make


scalar, vector, matrix = _maker(0, None), _maker(1, None), _maker(2, None)
row, col = _maker(2, None, (True, False)), _maker(2, None, (False, True))
tensor3, tensor4, tensor5 = _maker(3, None), _maker(4, None), _maker(5, None)
_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}
_KINDS = {"scalar": (0, None), "vector": (1, None), "matrix": (2, None),
          "row": (2, (True, False)), "col": (2, (False, True)), "tensor3": (3, None),
          "tensor4": (4, None), "tensor5": (5, None)}
for _p, _dt in _PREFIX.items():
    for _kind, (_nd, _pat) in _KINDS.items():
        globals()[_p + _kind] = _maker(_nd, _dt, _pat)

# ---- elementwise --------------------------------------------------------------------------

add, sub, mul, true_div, int_div, mod = E.add, E.sub, E.mul, E.true_div, E.int_div, E.mod
pow, maximum, minimum = E.pow, E.maximum, E.minimum
eq, neq, lt, le, gt, ge = E.eq, E.neq, E.lt, E.le, E.gt, E.ge
and_, or_, xor, invert = E.and_, E.or_, E.xor, E.invert
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
neg, abs, abs_, sgn, sign = E.neg, E.abs, E.abs, E.sgn, E.sgn
floor, ceil, round_half_to_even = E.floor, E.ceil, E.round_half_to_even
exp, expm1, log, log1p, log2, log10 = E.exp, E.expm1, E.log, E.log1p, E.log2, E.log10
sqrt, sqr, square, inv, reciprocal = E.sqrt, E.sqr, E.sqr, E.inv, E.inv
sin, cos, tanh, sigmoid, softplus = E.sin, E.cos, E.tanh, E.sigmoid, E.softplus
switch, where, clip, cast = E.switch, E.switch, E.clip, E.cast
true_divide, floor_div = true_div, int_div


def round(a: Any, mode: str = "half_to_even") -> Variable:
    """Round to the nearest integer (ties to even, NumPy's rule)."""
    if mode != "half_to_even":
        raise ValueError("round: only mode='half_to_even' is supported")
    return round_half_to_even(a)


def tensor_copy(x: Any, name: str | None = None) -> Variable:
    out = S.tensor_copy(x)
    out.name = name
    return out

# ---- reductions ---------------------------------------------------------------------------


def sum(input: Any, axis: Any = None, dtype: str | None = None, keepdims: bool = False,
        acc_dtype: str | None = None) -> Variable:
    """Sum over ``axis`` (all axes when None); ints sum to int64, as Theano."""
    return R.reduce_sum(input, axis=axis, keepdims=keepdims, dtype=dtype)


def prod(input: Any, axis: Any = None, dtype: str | None = None, keepdims: bool = False,
         acc_dtype: str | None = None) -> Variable:
    return R.reduce_prod(input, axis=axis, keepdims=keepdims, dtype=dtype)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_max(x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_min(x, axis=axis, keepdims=keepdims)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_argmax(x, axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_argmin(x, axis=axis, keepdims=keepdims)


def max_and_argmax(a: Any, axis: Any = None, keepdims: bool = False) -> list[Variable]:
    return [max(a, axis, keepdims), argmax(a, axis, keepdims)]


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_any(x, axis=axis, keepdims=keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return R.reduce_all(x, axis=axis, keepdims=keepdims)


def _count(x: Variable, axes: tuple[int, ...], dtype: str) -> Variable:
    sizes = [x.type.shape[a] for a in axes]
    if None not in sizes:
        return constant(math.prod(sizes), dtype=dtype)
    dims = S.shape_of(x)
    total = dims[axes[0]] if axes else constant(1, dtype="int64")
    for a in axes[1:]:
        total = total * dims[a]
    return cast(total, dtype)


def mean(input: Any, axis: Any = None, dtype: str | None = None, op: bool = False,
         keepdims: bool = False, acc_dtype: str | None = None) -> Variable:
    """Mean over ``axis``: float32 stays float32, integers give float64 (Theano's rule)."""
    x = as_tensor_variable(input)
    axes = R.normalize_axis(axis, x.ndim, "mean")
    if dtype is None and x.dtype == "float16":
        # accumulate in float32 and return float16, as Theano (a float16 sum overflows at 65504)
        s = sum(x, axis=axes, dtype="float32", keepdims=keepdims)
        return cast(true_div(s, _count(x, axes, "float32")), "float16")
    s = sum(x, axis=axes, dtype=dtype, keepdims=keepdims)
    count_dtype = "float32" if s.dtype in ("float16", "float32") else "float64"
    return true_div(s, _count(x, axes, count_dtype))


def var(input: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False,
        corrected: bool = False) -> Variable:
    x = as_tensor_variable(input)
    axes = R.normalize_axis(axis, x.ndim, "var")
    centered = x - mean(x, axis=axes, keepdims=True)
    v = mean(sqr(centered), axis=axes, keepdims=keepdims)
    ddof = 1 if corrected else ddof
    if ddof:
        n = _count(x, axes, v.dtype)
        v = v * n / (n - ddof)
    return v


def std(input: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False,
        corrected: bool = False) -> Variable:
    return sqrt(var(input, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def norm(x: Any, L: int | float, axis: Any = None) -> Variable:
    if L == 1:
        return sum(abs(x), axis=axis)
    if L == 2:
        return sqrt(sum(sqr(x), axis=axis))
    return pow(sum(pow(abs(x), L), axis=axis), 1.0 / L)

# ---- products -----------------------------------------------------------------------------


def dot(a: Any, b: Any) -> Variable:
    """Inner product of vectors, matrix-vector or matrix-matrix product (NumPy's dot)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim > 2 and b.ndim <= 2:   # Theano: a's last axis against b's first (lstm.py)
        lead = [a.shape[i] for i in range(a.ndim - 1)]
        flat = S.reshape(a, -1, a.shape[a.ndim - 1])
        return S.reshape(_dot(flat, b), *(lead + ([b.shape[1]] if b.ndim == 2 else [])))
    if a.ndim > 2 or b.ndim > 2:
        from symconv.tensor.more import nd_dot
        return nd_dot(a, b)
    return _dot(a, b)


def outer(x: Any, y: Any) -> Variable:
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    return dimshuffle(x.flatten(), 0, "x") * dimshuffle(y.flatten(), "x", 0)

# ---- shape --------------------------------------------------------------------------------


def shape(x: Any) -> Variable:
    """The shape of ``x`` as an int64 vector."""
    return S.shape_op(x)


def dimshuffle(x: Any, *pattern: Any) -> Variable:
    """Reorder axes, insert broadcastable axes ('x') and drop broadcastable ones."""
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    x = as_tensor_variable(x)
    if tuple(pattern) == tuple(range(x.ndim)):
        return x
    return S.dimshuffle(x, pattern=pattern)


def transpose(x: Any, *axes: Any) -> Variable:
    x = as_tensor_variable(x)
    if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
        axes = tuple(axes[0])
    if not axes or axes == (None,):
        axes = tuple(reversed(range(x.ndim)))
    return dimshuffle(x, *axes)


def reshape(x: Any, newshape: Any, ndim: int | None = None) -> Variable:
    """``x`` with shape ``newshape``: a tuple of ints and integer scalars, or an int vector."""
    x = as_tensor_variable(x)
    if isinstance(newshape, Variable) and not (isinstance(newshape, Constant)):
        if newshape.ndim != 1:
            raise TypeError(f"reshape: a symbolic shape must be a vector, got {newshape.type}")
        n = newshape.type.shape[0] if ndim is None else ndim
        if n is None:
            raise ValueError("reshape: the length of the symbolic shape is unknown; pass ndim=")
        dims: list[Any] = [newshape[i] for i in range(n)]
    elif isinstance(newshape, Constant):
        dims = [int(v) for v in np.atleast_1d(newshape.data)]
    elif isinstance(newshape, (int, np.integer)):
        dims = [int(newshape)]
    else:
        dims = list(newshape)
    if ndim is not None and ndim != len(dims):
        raise ValueError(f"reshape: ndim={ndim} but the shape has {len(dims)} entries")
    return S.reshape(x, *dims)


def flatten(x: Any, ndim: int = 1, outdim: int | None = None) -> Variable:
    """Collapse the trailing axes so the result has ``ndim`` dimensions."""
    x = as_tensor_variable(x)
    ndim = outdim if outdim is not None else ndim
    if x.ndim == ndim:
        return x
    return S.flatten(x, ndim=ndim)


def concatenate(tensor_list: Sequence[Any], axis: int = 0) -> Variable:
    tensors = list(tensor_list)
    if len(tensors) == 1:
        return as_tensor_variable(tensors[0])
    return S.join(*tensors, axis=axis)


def join(axis: int, *tensors: Any) -> Variable:
    return concatenate(tensors, axis=axis)


def stack(*tensors: Any, axis: int = 0) -> Variable:
    """Join tensors of equal shape along a new axis (``stack([a, b])`` or ``stack(a, b)``)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    vars_ = [as_tensor_variable(t) for t in tensors]
    literals = [t for t in tensors if is_literal(t)]
    if literals and len(literals) < len(tensors):
        strong = [v.dtype for v, t in zip(vars_, tensors) if not is_literal(t)]
        dtype = E.upcast(*strong)
        vars_ = [cast(v, dtype) if is_literal(t) else v for v, t in zip(vars_, tensors)]
    ndim = vars_[0].ndim
    axis = axis % (ndim + 1)
    pattern = tuple(range(axis)) + ("x",) + tuple(range(axis, ndim))
    return concatenate([dimshuffle(v, *pattern) for v in vars_], axis=axis)


def shape_padleft(x: Any, n_ones: int = 1) -> Variable:
    x = as_tensor_variable(x)
    return dimshuffle(x, *(("x",) * n_ones + tuple(range(x.ndim))))


def shape_padright(x: Any, n_ones: int = 1) -> Variable:
    x = as_tensor_variable(x)
    return dimshuffle(x, *(tuple(range(x.ndim)) + ("x",) * n_ones))


def shape_padaxis(x: Any, axis: int) -> Variable:
    x = as_tensor_variable(x)
    axis = axis % (x.ndim + 1)
    return dimshuffle(x, *(tuple(range(axis)) + ("x",) + tuple(range(axis, x.ndim))))


def patternbroadcast(x: Any, broadcastable: Sequence[bool]) -> Variable:
    """``x`` with the given broadcastable pattern (checked against the value at run time)."""
    x = as_tensor_variable(x)
    if len(broadcastable) > x.ndim:
        raise ValueError(f"patternbroadcast: pattern {tuple(broadcastable)} has "
                         f"{len(broadcastable)} entries but {x} has {x.ndim} dimensions")
    # a shorter pattern sets the leading axes only (Theano's Rebroadcast of axes 0..len-1)
    broadcastable = tuple(broadcastable) + x.broadcastable[len(broadcastable):]
    shape = tuple(1 if b else (None if s == 1 else s)
                  for s, b in zip(x.type.shape, broadcastable))
    return x if shape == x.type.shape else S.rebroadcast(x, shape=shape)


def addbroadcast(x: Any, *axes: int) -> Variable:
    """``x`` with the given axes declared broadcastable (size 1)."""
    x = as_tensor_variable(x)
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"addbroadcast: axis {a} does not exist in {x} ({x.ndim} dimensions)")
    axes = tuple(a % x.ndim for a in axes)
    return patternbroadcast(x, [b or a in axes for a, b in enumerate(x.broadcastable)])


def unbroadcast(x: Any, *axes: int) -> Variable:
    """``x`` with the given axes no longer broadcastable."""
    x = as_tensor_variable(x)
    return patternbroadcast(x, [b and a not in axes for a, b in enumerate(x.broadcastable)])


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> Variable:
    """Evenly spaced values in [start, stop): int64 for integers, floatX for floats."""
    if stop is None:
        start, stop = 0, start
    vals = [as_tensor_variable(v) for v in (start, stop, step)]
    dtype = config.floatX if dtype == "floatX" else dtype
    if dtype is None:
        floats = [v.dtype for v in vals if v.dtype.startswith("float")]
        dtype = E.upcast(*floats) if floats else "int64"
    return S.arange_op(*vals, dtype=dtype)


def zeros_like(x: Any, dtype: str | None = None) -> Variable:
    x = as_tensor_variable(x)
    return S.filled_like(x, dtype=_dtype(dtype, x.dtype), value=0)


def ones_like(x: Any, dtype: str | None = None) -> Variable:
    x = as_tensor_variable(x)
    return S.filled_like(x, dtype=_dtype(dtype, x.dtype), value=1)


def _dtype(dtype: str | None, default: str) -> str:
    if dtype is None:
        return default
    return config.floatX if dtype == "floatX" else np.dtype(dtype).name


def _sizes(shape: Any) -> list[Any]:
    if isinstance(shape, Variable):
        return [shape[i] for i in range(shape.type.shape[0])]
    return [shape] if isinstance(shape, (int, np.integer)) else list(shape)


def alloc(value: Any, *shape: Any) -> Variable:
    """A new tensor of the given shape filled with (a broadcast of) ``value``."""
    return S.alloc(value, *shape)


def zeros(shape: Any, dtype: str | None = None) -> Variable:
    return alloc(constant(0, dtype=_dtype(dtype, config.floatX)), *_sizes(shape))


def ones(shape: Any, dtype: str | None = None) -> Variable:
    return alloc(constant(1, dtype=_dtype(dtype, config.floatX)), *_sizes(shape))


def fill(model: Any, value: Any) -> Variable:
    """``value`` broadcast to the shape of ``model`` broadcast with it (Theano's ``second``)."""
    model = as_tensor_variable(model)
    if not isinstance(value, Variable):
        return alloc(value, *S.shape_of(model))
    if value.ndim > model.ndim:
        model = shape_padleft(model, value.ndim - model.ndim)
    value_dims = [None] * (model.ndim - value.ndim) + S.shape_of(value)
    value_bcast = (True,) * (model.ndim - value.ndim) + value.broadcastable
    dims = [v if mb and not vb else m for m, v, mb, vb in
            zip(S.shape_of(model), value_dims, model.broadcastable, value_bcast)]
    return alloc(value, *dims)


second = fill

# ---- indexing -----------------------------------------------------------------------------


def subtensor_of(x: Any, index: Any) -> Variable:
    """``x[index]``: ints, slices (symbolic bounds too), None, Ellipsis and int arrays."""
    x = as_tensor_variable(x)
    spec, inputs = I.parse_index(x, index)
    # x[:] stays a node (rewrites drop it): inc_subtensor(x[:], y) must see the index
    return I.subtensor_op(x, *inputs, spec=spec)


def _inc(x_sub: Any, y: Any, set_instead_of_inc: bool, name: str) -> Variable:
    if not (isinstance(x_sub, Variable) and x_sub.owner is not None
            and x_sub.owner.op.name == "subtensor"):
        raise TypeError(f"{name}: the first argument must be an indexed tensor such as "
                        f"x[2:5] or x[T.arange(n), y], got {x_sub!r}")
    node = x_sub.owner
    return I.inc_subtensor_op(node.inputs[0], y, *node.inputs[1:], spec=node.kw["spec"],
                              set_instead_of_inc=set_instead_of_inc)


def set_subtensor(x: Any, y: Any, inplace: bool = False,
                  tolerate_inplace_aliasing: bool = False) -> Variable:
    """A copy of ``x``'s base tensor with the indexed part replaced by ``y``."""
    return _inc(x, y, True, "set_subtensor")


def inc_subtensor(x: Any, y: Any, inplace: bool = False, set_instead_of_inc: bool = False,
                  tolerate_inplace_aliasing: bool = False) -> Variable:
    """A copy of ``x``'s base tensor with ``y`` added to the indexed part (repeats add up)."""
    return _inc(x, y, set_instead_of_inc, "inc_subtensor")


# The public API is every public function and op above; the modules and helpers this file
# imports (np, math, builtins, config, typing) are not part of it. Keep this block last.
_NOT_API = {"annotations", "Any", "Sequence", "config", "is_literal", "Constant"}
__all__ = sorted(name for name, value in list(globals().items())
                 if not name.startswith("_") and name not in _NOT_API
                 and type(value).__name__ != "module")
