"""Ops behind Theano's extra_ops and friends: nonzero, cumsum/cumprod, bincount, repeat's
index, Print, consider_constant. Sizes that depend on the data are None in the type."""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.graph import Op, TensorType, Variable, as_tensor_variable

# ---- nonzero: the (ndim, nnz) matrix of indices --------------------------------------------


def _nonzero_kernel(xp: Any, x: Any) -> Any:
    return xp.stack(xp.nonzero(x)).astype("int64", copy=False).reshape(x.ndim, -1)


nonzero_op = Op("nonzero", lambda t: TensorType("int64", (t.ndim, None)), _nonzero_kernel,
                None, doc="Indices of the non-zero elements, one row per axis.")

# ---- cumsum / cumprod ---------------------------------------------------------------------


def _cum_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    x = as_tensor_variable(inputs[0])
    axis = params.get("axis")
    if axis is not None:
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"axis {axis} is out of range for {x} ({x.ndim} dimensions)")
        axis %= x.ndim
    return [x], {"axis": axis}


def _cum_infer(t: TensorType, axis: int | None) -> TensorType:
    from symconv.ops.reduce import sum_dtype
    if axis is None:
        size = None if None in t.shape else int(np.prod(t.shape, dtype="int64"))
        return TensorType(sum_dtype(t.dtype), (size,))
    return TensorType(sum_dtype(t.dtype), t.shape)


def _reverse(x: Variable, axis: int) -> Variable:
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _cumsum_grad(g: Variable, out: Variable, x: Variable, axis: int | None) -> list:
    # d cumsum: the reversed cumulative sum of g
    if axis is None:
        return [_reverse(cumsum(_reverse(g, 0), axis=0), 0).reshape(x.shape, ndim=x.ndim)]
    return [_reverse(cumsum(_reverse(g, axis), axis=axis), axis)]


def _cumsum_kernel(xp: Any, x: Any, axis: int | None) -> Any:
    from symconv.ops.reduce import sum_dtype
    return xp.cumsum(x, axis=axis, dtype=sum_dtype(x.dtype.name))


cumsum = Op("cumsum", _cum_infer, _cumsum_kernel, _cumsum_grad, prepare=_cum_prepare)


def _cumprod_kernel(xp: Any, x: Any, axis: int | None) -> Any:
    from symconv.ops.reduce import sum_dtype
    return xp.cumprod(x, axis=axis, dtype=sum_dtype(x.dtype.name))


def _cumprod_grad(g: Variable, out: Variable, x: Variable, axis: int | None) -> list:
    # Theano's rule: reversed cumsum of g * out, divided by x (undefined where x == 0)
    if axis is None:
        flat = _reverse(cumsum(_reverse(g * out, 0), axis=0), 0) / x.flatten()
        return [flat.reshape(x.shape, ndim=x.ndim)]
    return [_reverse(cumsum(_reverse(g * out, axis), axis=axis), axis) / x]


cumprod = Op("cumprod", _cum_infer, _cumprod_kernel, _cumprod_grad, prepare=_cum_prepare)

# ---- bincount, repeat's index -------------------------------------------------------------


def _bincount_kernel(xp: Any, x: Any, *weights: Any, minlength: int) -> Any:
    out = xp.bincount(x, weights[0] if weights else None, minlength=minlength)
    return out if weights else out.astype(x.dtype, copy=False)   # Theano: x's dtype


def _bincount_infer(x: TensorType, *weights: TensorType, minlength: int) -> TensorType:
    if x.ndim != 1 or x.dtype[0] not in "iu":
        raise TypeError(f"bincount: x must be an integer vector, got {x}")
    return TensorType(weights[0].dtype if weights else x.dtype, (None,))


bincount_op = Op("bincount", _bincount_infer, _bincount_kernel, None)


def _repeat_index_kernel(xp: Any, n: Any, repeats: Any) -> Any:
    # counts as Python ints: CuPy's repeat takes an int or a list, not a device array
    counts = repeats.tolist() if getattr(repeats, "ndim", 0) else int(repeats)
    return xp.repeat(xp.arange(int(n), dtype="int64"), counts)


repeat_index = Op("repeat_index", lambda n, r: TensorType("int64", (None,)),
                  _repeat_index_kernel, None,
                  doc="repeat(arange(n), repeats): the gather index of T.repeat.")

def _argsort_kernel(xp: Any, x: Any, axis: int | None) -> Any:
    return xp.argsort(x, axis=axis, kind="stable").astype("int64", copy=False)


def _argsort_infer(t: TensorType, axis: int | None) -> TensorType:
    if axis is None:
        size = None if None in t.shape else int(np.prod(t.shape, dtype="int64"))
        return TensorType("int64", (size,))
    return TensorType("int64", t.shape)


argsort_op = Op("argsort", _argsort_infer, _argsort_kernel, None, prepare=_cum_prepare)

# ---- identities with a side effect or a gradient rule -------------------------------------


def _print_kernel(xp: Any, x: Any, message: str, attrs: tuple) -> Any:
    for attr in attrs:
        value = getattr(x, attr)
        print(f"{message} {attr} = {value() if callable(value) else value}")
    return x


print_op = Op("Print", lambda t, message, attrs: t, _print_kernel,
              lambda g, out, x, message, attrs: [g],
              doc="Identity that prints its value (or attributes) each time it runs.")


def _consider_constant_grad(g: Variable, out: Variable, x: Variable) -> list:
    from symconv.ops.shape import filled_like
    return [filled_like(g, dtype=g.dtype, value=0)]


consider_constant_op = Op("consider_constant", lambda t: t, lambda xp, x: x,
                          _consider_constant_grad, view=True,
                          doc="Identity whose gradient is zero (x stays connected).")


def _specify_shape_kernel(xp: Any, x: Any, shape: tuple) -> Any:
    if x.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape)):
        raise ValueError(f"specify_shape: expected shape {shape}, got {tuple(x.shape)}")
    return x


specify_shape = Op("specify_shape", lambda t, shape: TensorType(t.dtype, shape),
                   _specify_shape_kernel, lambda g, out, x, shape: [g], view=True,
                   doc="x with a static shape, checked against the value when it runs.")
