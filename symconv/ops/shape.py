"""Shape ops: shape, dimshuffle, reshape, flatten, join, alloc, broadcast_to, arange, zeros_like."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from symconv.graph import Op, TensorType, Variable, as_tensor_variable, constant, Constant

# ---- shape(x) -> int64 vector -------------------------------------------------------------


def _shape_kernel(xp: Any, x: Any) -> Any:
    return np.array(x.shape, dtype="int64")  # shapes live on the host, whatever the device


shape_op = Op("shape", lambda t: TensorType("int64", (t.ndim,)), _shape_kernel,
              lambda g, out, x: [None])


def shape_of(x: Variable) -> list[Variable]:
    """One scalar per axis: a constant where the static shape knows it, else ``x.shape[i]``."""
    dims: list[Variable] = []
    full = None
    for axis, size in enumerate(x.type.shape):
        if size is not None:
            dims.append(constant(size, dtype="int64"))
        else:
            if full is None:
                full = shape_op(x)
            dims.append(full[axis])
    return dims

# ---- dimshuffle ---------------------------------------------------------------------------


def _dimshuffle_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    x = as_tensor_variable(inputs[0])
    pattern = tuple("x" if p == "x" else int(p) for p in params["pattern"])
    kept = [p for p in pattern if p != "x"]
    if len(set(kept)) != len(kept) or any(not 0 <= p < x.ndim for p in kept):
        raise ValueError(f"dimshuffle: invalid pattern {pattern} for a {x.ndim}-d input {x}")
    for axis in range(x.ndim):
        if axis not in kept and x.type.shape[axis] != 1:
            raise ValueError(
                f"dimshuffle: pattern {pattern} drops axis {axis} of {x} ({x.type}), "
                f"which is not broadcastable (only size-1 axes can be dropped)")
    return [x], {"pattern": pattern}


def _dimshuffle_infer(t: TensorType, pattern: tuple) -> TensorType:
    return TensorType(t.dtype, tuple(1 if p == "x" else t.shape[p] for p in pattern))


def _dimshuffle_kernel(xp: Any, x: Any, pattern: tuple) -> Any:
    kept = [p for p in pattern if p != "x"]
    dropped = [a for a in range(x.ndim) if a not in kept]
    y = x.transpose(kept + dropped) if kept + dropped != list(range(x.ndim)) else x
    if dropped or len(kept) != len(pattern):
        shape = [1 if p == "x" else x.shape[p] for p in pattern]
        y = y.reshape(shape)
    return y


def _dimshuffle_grad(g: Variable, out: Variable, x: Variable, pattern: tuple) -> list:
    kept = [p for p in pattern if p != "x"]
    # drop the inserted axes (size 1 in g after unbroadcasting), put the kept ones back in order
    inverse = []
    for axis in range(x.ndim):
        inverse.append(pattern.index(axis) if axis in kept else "x")
    gk = g
    for pos in range(len(pattern)):
        if pattern[pos] == "x" and g.type.shape[pos] != 1:
            break
    else:
        return [dimshuffle(g, pattern=tuple(inverse))]
    # g broadcast over an inserted axis (its size is not statically 1): sum it out first
    axes = tuple(pos for pos, p in enumerate(pattern) if p == "x")
    from symconv.ops.reduce import reduce_sum
    gk = reduce_sum(g, axis=axes, keepdims=True)
    return [dimshuffle(gk, pattern=tuple(inverse))]


dimshuffle = Op("dimshuffle", _dimshuffle_infer, _dimshuffle_kernel, _dimshuffle_grad,
                prepare=_dimshuffle_prepare, view=True)

# ---- reshape (static sizes in params, symbolic ones as scalar inputs) ----------------------


def _reshape_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    x = as_tensor_variable(inputs[0])
    dims = list(inputs[1:])
    static: list[int | None] = []
    symbolic: list[Variable] = []
    for d in dims:
        if isinstance(d, Constant):
            d = d.data
        if isinstance(d, Variable):
            if d.ndim != 0 or d.dtype[0] not in "iu":
                raise TypeError(f"reshape: a symbolic size must be an integer scalar, got {d} "
                                f"of type {d.type}")
            static.append(None)
            symbolic.append(d)
        else:
            static.append(int(d))
    if static.count(-1) > 1:
        raise ValueError(f"reshape: at most one size may be -1, got {static}")
    return [x] + symbolic, {"shape": tuple(static)}


def _reshape_infer(t: TensorType, *sizes: TensorType, shape: tuple) -> TensorType:
    out = [None if s is None or s == -1 else s for s in shape]
    known_in = None if None in t.shape else math.prod(t.shape)
    if known_in is not None and None not in shape:
        if -1 in shape:
            rest = math.prod(s for s in shape if s != -1)
            if rest == 0 or known_in % rest:
                raise ValueError(f"reshape: cannot reshape {t} into {shape}")
            out[shape.index(-1)] = known_in // rest
        elif math.prod(shape) != known_in:
            raise ValueError(f"reshape: cannot reshape {t} ({known_in} elements) into "
                             f"shape {shape} ({math.prod(shape)} elements)")
    return TensorType(t.dtype, out)


def _reshape_kernel(xp: Any, x: Any, *sizes: Any, shape: tuple) -> Any:
    if sizes:
        it = iter(sizes)
        shape = tuple(int(next(it)) if s is None else s for s in shape)
    return x.reshape(shape)


def _reshape_grad(g: Variable, out: Variable, x: Variable, *sizes: Variable,
                  shape: tuple) -> list:
    return [reshape(g, *shape_of(x))] + [None] * len(sizes)


_reshape_op = Op("reshape", _reshape_infer, _reshape_kernel, _reshape_grad,
                 prepare=_reshape_prepare, view=True)


def reshape(x: Any, *dims: Any) -> Variable:
    """``x`` with the given sizes (ints or integer scalars; one may be -1)."""
    x = as_tensor_variable(x)
    if x.ndim == len(dims) and all(isinstance(d, (int, np.integer)) and d == s
                                   for d, s in zip(dims, x.type.shape)):
        return x
    return _reshape_op(x, *dims)

# ---- flatten ------------------------------------------------------------------------------


def _flatten_infer(t: TensorType, ndim: int) -> TensorType:
    if not 1 <= ndim <= max(t.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {t.ndim}, got {ndim}")
    rest = t.shape[ndim - 1:]
    last = None if None in rest else math.prod(rest)
    return TensorType(t.dtype, t.shape[:ndim - 1] + (last,))


def _flatten_kernel(xp: Any, x: Any, ndim: int) -> Any:
    return x.reshape(x.shape[:ndim - 1] + (-1,))


flatten = Op("flatten", _flatten_infer, _flatten_kernel,
             lambda g, out, x, ndim: [reshape(g, *shape_of(x))], view=True)

# ---- join (concatenate) -------------------------------------------------------------------


def _join_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    from symconv.ops.elemwise import upcast, cast
    xs = [as_tensor_variable(x) for x in inputs]
    if not xs:
        raise ValueError("concatenate: needs at least one tensor")
    dtype = upcast(*[x.dtype for x in xs])
    xs = [cast(x, dtype) for x in xs]
    ndim = xs[0].ndim
    if any(x.ndim != ndim for x in xs):
        raise TypeError("concatenate: all inputs must have the same number of dimensions, got "
                        + ", ".join(f"{x} ({x.type})" for x in xs))
    axis = params["axis"]
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} out of range for {ndim}-d inputs")
    return xs, {"axis": axis % ndim}


def _join_infer(*types: TensorType, axis: int) -> TensorType:
    shape = []
    for a in range(types[0].ndim):
        sizes = [t.shape[a] for t in types]
        if a == axis:
            shape.append(None if None in sizes else sum(sizes))
        else:
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise ValueError(f"concatenate: inputs differ in size along axis {a}: "
                                 + ", ".join(str(t) for t in types))
            shape.append(known.pop() if known else None)
    return TensorType(types[0].dtype, shape)


def _join_kernel(xp: Any, *xs: Any, axis: int) -> Any:
    return xp.concatenate(xs, axis=axis)


def _join_grad(g: Variable, out: Variable, *xs: Variable, axis: int) -> list:
    grads, start = [], constant(0, dtype="int64")
    for x in xs:
        size = shape_of(x)[axis]
        stop = start + size
        index = (slice(None),) * axis + (slice(start, stop),)
        grads.append(g[index])
        start = stop
    return grads


join = Op("join", _join_infer, _join_kernel, _join_grad, prepare=_join_prepare)

# ---- alloc / broadcast_to -----------------------------------------------------------------


def _sizes_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    value = as_tensor_variable(inputs[0])
    sizes = [as_tensor_variable(s) for s in inputs[1:]]
    for s in sizes:
        if s.ndim != 0 or s.dtype[0] not in "iu":
            raise TypeError(f"alloc: sizes must be integer scalars, got {s} of type {s.type}")
    if value.ndim > len(sizes):
        raise ValueError(f"alloc: value {value} has {value.ndim} dimensions, more than the "
                         f"{len(sizes)} sizes given")
    sizes = [constant(int(s.data), dtype="int64") if isinstance(s, Constant) else s
             for s in sizes]
    return [value] + sizes, params


def _sizes_infer(value: Variable, *sizes: Variable) -> TensorType:
    """Sizes given as constants are static; value's known non-1 sizes fill in the rest."""
    shape = [int(s.data) if isinstance(s, Constant) else None for s in sizes]
    lead = len(sizes) - value.ndim
    for i, known in enumerate(value.type.shape):
        if shape[lead + i] is None and known not in (None, 1):
            shape[lead + i] = known
    return TensorType(value.dtype, shape)


def _alloc_kernel(xp: Any, value: Any, *sizes: Any) -> Any:
    out = xp.empty(tuple(int(s) for s in sizes), dtype=value.dtype)
    out[...] = value
    return out


def _broadcast_to_kernel(xp: Any, value: Any, *sizes: Any) -> Any:
    return xp.broadcast_to(value, tuple(int(s) for s in sizes))


def _alloc_grad(g: Variable, out: Variable, value: Variable, *sizes: Variable) -> list:
    return [g] + [None] * len(sizes)   # the walker sums g over the broadcast axes


alloc = Op("alloc", _sizes_infer, _alloc_kernel, _alloc_grad, prepare=_sizes_prepare,
           infer_vars=True, sized_by_values=True)
broadcast_to = Op("broadcast_to", _sizes_infer, _broadcast_to_kernel, _alloc_grad,
                  prepare=_sizes_prepare, view=True, infer_vars=True, sized_by_values=True)

# ---- arange -------------------------------------------------------------------------------


def _arange_infer(start: Variable, stop: Variable, step: Variable, dtype: str) -> TensorType:
    for v in (start, stop, step):
        if v.ndim != 0:
            raise TypeError(f"arange: start, stop and step must be scalars, got {v} ({v.type})")
    if all(isinstance(v, Constant) for v in (start, stop, step)):
        return TensorType(dtype, np.arange(start.data, stop.data, step.data).shape)
    return TensorType(dtype, (None,))


def _arange_kernel(xp: Any, start: Any, stop: Any, step: Any, dtype: str) -> Any:
    return xp.arange(start, stop, step, dtype=dtype)


arange_op = Op("arange", _arange_infer, _arange_kernel,
               lambda g, out, a, b, c, dtype: [None, None, None], infer_vars=True,
               sized_by_values=True)

# ---- zeros_like / ones_like ---------------------------------------------------------------


def _like_infer(t: TensorType, dtype: str, value: float) -> TensorType:
    return TensorType(dtype, t.shape)


def _like_kernel(xp: Any, x: Any, dtype: str, value: float) -> Any:
    return xp.full(x.shape, value, dtype=dtype)


filled_like = Op("filled_like", _like_infer, _like_kernel,
                 lambda g, out, x, dtype, value: [None])


def _copy_kernel(xp: Any, x: Any) -> Any:
    return x.copy()


tensor_copy = Op("tensor_copy", lambda t: t, _copy_kernel, lambda g, out, x: [g],
                 shape_from=0)

# ---- rebroadcast (addbroadcast / unbroadcast / patternbroadcast) ---------------------------


def _rebroadcast_infer(t: TensorType, shape: tuple) -> TensorType:
    for axis, (old, new) in enumerate(zip(t.shape, shape)):
        if new == 1 and old not in (None, 1):
            raise ValueError(f"addbroadcast: axis {axis} of {t} has size {old}, not 1")
    return TensorType(t.dtype, shape)


def _rebroadcast_kernel(xp: Any, x: Any, shape: tuple) -> Any:
    for axis, size in enumerate(shape):
        if size == 1 and x.shape[axis] != 1:
            raise ValueError(f"addbroadcast: axis {axis} was declared broadcastable but the value "
                             f"has shape {tuple(x.shape)}")
    return x


rebroadcast = Op("rebroadcast", _rebroadcast_infer, _rebroadcast_kernel,
                 lambda g, out, x, shape: [rebroadcast(g, shape=x.type.shape)], view=True)

# ---- assert_sizes: a size check a rewrite keeps when it drops the op that made it ----------


def _assert_sizes_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    x = as_tensor_variable(inputs[0])
    sizes = [as_tensor_variable(s) for s in inputs[1:]]
    axes = tuple(int(a) for a in params["axes"])
    if len(axes) != len(sizes) or any(not 0 <= a < x.ndim for a in axes):
        raise ValueError(f"assert_sizes: axes {axes} do not match {len(sizes)} sizes for {x}")
    return [x] + sizes, {"axes": axes}


def _assert_sizes_kernel(xp: Any, x: Any, *sizes: Any, axes: tuple) -> Any:
    for axis, size in zip(axes, sizes):
        if x.shape[axis] != int(size):
            raise ValueError(f"shape mismatch: axis {axis} has size {x.shape[axis]} (shape "
                             f"{tuple(x.shape)}) where the graph needs {int(size)} (the "
                             f"operands of an elementwise operation must agree)")
    return x


assert_sizes = Op("assert_sizes", lambda t, *sizes, axes: t, _assert_sizes_kernel,
                  lambda g, out, x, *sizes, axes: [g] + [None] * len(sizes),
                  prepare=_assert_sizes_prepare, view=True,
                  doc="x itself, after checking x.shape[axes[i]] == sizes[i] at run time.")


def _same_size_kernel(xp: Any, *sizes: Any) -> Any:
    values = [int(s) for s in sizes]
    if len(set(values)) > 1:
        raise ValueError(f"shape mismatch: the operands of an elementwise operation have sizes "
                         f"{values} on the same axis")
    return np.asarray(values[0], dtype="int64")


same_size = Op("same_size", lambda *types: TensorType("int64", ()), _same_size_kernel,
               lambda g, out, *sizes: [None] * len(sizes),
               doc="The common value of integer scalars that must be equal (else ValueError): "
                   "an elementwise result's size read from its inputs without computing it.")


def _same_shape_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    shapes = [as_tensor_variable(s) for s in inputs]
    if any(s.ndim != 1 or s.dtype != "int64" for s in shapes):
        raise TypeError("same_shape: inputs must be int64 shape vectors")
    return shapes, {"axes": tuple(int(a) for a in params["axes"])}


def _same_shape_kernel(xp: Any, first: Any, *others: Any, axes: tuple) -> Any:
    for other in others:
        for a in axes:
            if other[a] != 1 and other[a] != first[a]:
                raise ValueError(f"shape mismatch: the operands of an elementwise operation have "
                                 f"shapes {tuple(int(s) for s in first)} and "
                                 f"{tuple(int(s) for s in other)} (axis {a})")
    return first


same_shape = Op("same_shape", lambda first, *others, axes: first, _same_shape_kernel,
                lambda g, out, *shapes, axes: [None] * len(shapes),
                prepare=_same_shape_prepare,
                doc="The first shape vector, after checking that the others agree with it on "
                    "``axes`` (size 1 broadcasts): an elementwise result's shape read from its "
                    "inputs without computing it.")
