"""Row-wise softmax and log-softmax over the last axis, with closed-form gradients."""
from __future__ import annotations

from typing import Any

from symconv.graph import Op, TensorType, Variable
from symconv.ops.elemwise import exp, upgrade_to_float
from symconv.ops.reduce import reduce_sum


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


softmax = Op("softmax", _infer, _softmax_kernel, _softmax_grad)


def _logsoftmax_kernel(xp: Any, x: Any) -> Any:
    x = _as_float(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _logsoftmax_grad(g: Variable, out: Variable, x: Variable) -> list:
    # d logsoftmax: g - softmax * sum(g), row-wise
    return [g - exp(out) * reduce_sum(g, axis=-1, keepdims=True)]


logsoftmax = Op("logsoftmax", _infer, _logsoftmax_kernel, _logsoftmax_grad)
