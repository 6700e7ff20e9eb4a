"""Matrix products: dot for vector and matrix operands (BLAS on every backend)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Op, TensorType, Variable
from symconv.ops.elemwise import upcast
from symconv.ops.shape import dimshuffle


def _dot_infer(a: TensorType, b: TensorType) -> TensorType:
    if not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
        raise TypeError(f"dot: operands must be vectors or matrices, got {a} and {b} "
                        f"(use T.tensordot or T.batched_dot for higher ranks)")
    inner_a, inner_b = a.shape[-1], b.shape[0]
    if inner_a is not None and inner_b is not None and inner_a != inner_b:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned: "
                         f"{inner_a} (last axis of the first) != {inner_b} (first axis of the "
                         f"second)")
    return TensorType(upcast(a.dtype, b.dtype), a.shape[:-1] + b.shape[1:])


def _dot_kernel(xp: Any, a: Any, b: Any) -> Any:
    return xp.dot(a, b)


def _outer(a: Variable, b: Variable) -> Variable:
    return dimshuffle(a, pattern=(0, "x")) * dimshuffle(b, pattern=("x", 0))


def _dot_grad(g: Variable, out: Variable, a: Variable, b: Variable) -> list:
    if a.ndim == 2 and b.ndim == 2:
        return [dot(g, b.T), dot(a.T, g)]
    if a.ndim == 2:                  # matrix . vector -> vector
        return [_outer(g, b), dot(a.T, g)]
    if b.ndim == 2:                  # vector . matrix -> vector
        return [dot(b, g), _outer(a, g)]
    return [g * b, g * a]            # vector . vector -> scalar


dot = Op("dot", _dot_infer, _dot_kernel, _dot_grad, fresh=True, gemm=True)
