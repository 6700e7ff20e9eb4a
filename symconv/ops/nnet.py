"""Row-wise softmax and log-softmax over the last axis, with closed-form gradients."""
from __future__ import annotations

from typing import Any

from symconv.graph import Op, TensorType, Variable, constant
from symconv.ops.elemwise import cast, eq, exp, upgrade_to_float
from symconv.ops.reduce import reduce_sum
from symconv.ops.shape import arange_op, dimshuffle


def _infer(t: TensorType) -> TensorType:
    if t.ndim < 1:
        raise TypeError(f"softmax: input must have at least one dimension, got {t}")
    return TensorType(upgrade_to_float(t.dtype), t.shape)


def _as_float(x: Any) -> Any:
    return x if x.dtype.kind == "f" else x.astype(upgrade_to_float(x.dtype.name))


def _softmax_kernel(xp: Any, x: Any) -> Any:
    x = _as_float(x)
    e = x - x.max(axis=-1, keepdims=True)   # shift by the row max: exp never overflows
    xp.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _softmax_grad(g: Variable, out: Variable, x: Variable) -> list:
    # d softmax: (g - sum(g * sm)) * sm, row-wise
    return [(g - reduce_sum(g * out, axis=-1, keepdims=True)) * out]


softmax = Op("softmax", _infer, _softmax_kernel, _softmax_grad, shape_from=0)


def _logsoftmax_kernel(xp: Any, x: Any) -> Any:
    x = _as_float(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _logsoftmax_grad(g: Variable, out: Variable, x: Variable) -> list:
    # d logsoftmax: g - softmax * sum(g), row-wise
    return [g - exp(out) * reduce_sum(g, axis=-1, keepdims=True)]


logsoftmax = Op("logsoftmax", _infer, _logsoftmax_kernel, _logsoftmax_grad, shape_from=0)


# ---- fused softmax + cross-entropy with integer labels (the tutorials' NLL, stabilised) -------


def _xent_infer(z: TensorType, y: TensorType) -> TensorType:
    if z.ndim != 2 or y.ndim != 1 or y.dtype[0] not in "iu":
        raise TypeError(f"crossentropy_softmax_1hot: expected a matrix of logits and an integer "
                        f"label vector, got {z} and {y}")
    return TensorType(upgrade_to_float(z.dtype), (y.shape[0],))


def _rows(xp: Any, z: Any, y: Any) -> Any:
    if y.shape[0] > z.shape[0]:
        raise IndexError(f"{y.shape[0]} labels for {z.shape[0]} rows of logits")
    return z[:y.shape[0]]


def _xent_kernel(xp: Any, z: Any, y: Any) -> Any:
    z = _as_float(_rows(xp, z, y))
    m = z.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(z - m).sum(axis=1)) + m[:, 0]
    return lse - z[xp.arange(z.shape[0]), y]


def _xent_grad(g: Variable, out: Variable, z: Variable, y: Variable) -> list:
    return [crossentropy_softmax_1hot_grad(g, z, y), None]


crossentropy_softmax_1hot = Op(
    "crossentropy_softmax_1hot", _xent_infer, _xent_kernel, _xent_grad,
    doc="-log(softmax(z))[arange(len(y)), y] per row, computed from logits (never log(0)).")


def _xent_grad_infer(g: TensorType, z: TensorType, y: TensorType) -> TensorType:
    return TensorType(upgrade_to_float(z.dtype), z.shape)


def _xent_grad_kernel(xp: Any, g: Any, z: Any, y: Any) -> Any:
    # d/dz of -log softmax(z)[i, y_i] = softmax(z)[i] - onehot(y_i), scaled by g_i
    n = y.shape[0]
    out = _softmax_kernel(xp, z)
    out[xp.arange(n), y] -= 1
    out[:n] *= g[:, None].astype(out.dtype, copy=False)
    if n < z.shape[0]:
        out[n:] = 0
    return out


def _xent_grad_expand(g: Variable, z: Variable, y: Variable) -> Variable:
    # the same value written with ordinary ops: g[:, None] * (softmax(z) - onehot(y)); the
    # gradient walker differentiates it (second-order gradients of the fused cross-entropy)
    k = z.shape[1]
    onehot = cast(eq(dimshuffle(arange_op(constant(0, dtype="int64"), k,
                                          constant(1, dtype="int64"), dtype="int64"),
                                pattern=("x", 0)), dimshuffle(y, pattern=(0, "x"))), z.dtype)
    return dimshuffle(g, pattern=(0, "x")) * (softmax(z) - onehot)


crossentropy_softmax_1hot_grad = Op(
    "crossentropy_softmax_1hot_grad", _xent_grad_infer, _xent_grad_kernel,
    expand=_xent_grad_expand, shape_from=1,
    doc="Gradient of crossentropy_softmax_1hot wrt the logits: g * (softmax(z) - onehot(y)).")
