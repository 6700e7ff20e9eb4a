"""Bilinear upsampling along one axis by an integer ratio (Theano's ``bilinear_upsampling`` is
this along the rows, then the columns) and its adjoint, so the pair is closed under grad.

Theano computes it as a transposed strided convolution of the edge-replicated input with the
triangle kernel ``k[j] = (r - |j - (r - 1)|) / r`` (``j < 2r - 1``), cropped by
``pad = 2r - (r - 1) // 2 - 1``. Written as a matrix ``U`` of shape (n r, n):
``y[o] = sum_i k[o + pad - i r] * x[clip(i - 1, 0, n - 1)]`` over the n + 2 replicated inputs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from symconv.graph import Op, TensorType, Variable


@lru_cache(maxsize=64)
def upsampling_matrix(n: int, ratio: int) -> np.ndarray:
    """``U`` (n * ratio, n): bilinear upsampling of a length-n axis with replicated edges."""
    r = ratio
    pad = 2 * r - (r - 1) // 2 - 1
    taps = np.arange(2 * r - 1)
    kern = (r - np.abs(taps - (r - 1))) / r
    u = np.zeros((n * r, n))
    for i in range(n + 2):       # the edge-replicated input: positions -1 .. n
        j = np.arange(n * r) + pad - i * r
        ok = (j >= 0) & (j < 2 * r - 1)
        u[ok, min(max(i - 1, 0), n - 1)] += kern[j[ok]]
    u.setflags(write=False)
    return u


def _apply(xp: Any, m: np.ndarray, x: Any, axis: int) -> Any:
    moved = xp.moveaxis(x, axis, 0)
    out = xp.tensordot(xp.asarray(m, dtype=x.dtype), moved, axes=1)
    return xp.ascontiguousarray(xp.moveaxis(out, 0, axis))


def _check(t: TensorType, ratio: int, axis: int, name: str) -> None:
    if t.dtype[0] != "f":
        raise TypeError(f"{name}: needs a float input, got {t}")
    if not -t.ndim <= axis < t.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for {t}")
    if ratio < 1:
        raise ValueError(f"{name}: ratio must be a positive int, got {ratio}")


def _up_infer(x: TensorType, ratio: int, axis: int) -> TensorType:
    _check(x, ratio, axis, "bilinear_upsampling")
    shape = list(x.shape)
    shape[axis] = None if shape[axis] is None else shape[axis] * ratio
    return TensorType(x.dtype, tuple(shape))


def _up_kernel(xp: Any, x: Any, ratio: int, axis: int) -> Any:
    return _apply(xp, upsampling_matrix(x.shape[axis], ratio), x, axis)


def _down_infer(g: TensorType, ratio: int, axis: int) -> TensorType:
    _check(g, ratio, axis, "bilinear_upsampling gradient")
    shape = list(g.shape)
    if shape[axis] is not None:
        if shape[axis] % ratio:
            raise ValueError(f"bilinear_upsampling gradient: axis {axis} of {g} is not a "
                             f"multiple of the ratio {ratio}")
        shape[axis] //= ratio
    return TensorType(g.dtype, tuple(shape))


def _down_kernel(xp: Any, g: Any, ratio: int, axis: int) -> Any:
    if g.shape[axis] % ratio:
        raise ValueError(f"bilinear_upsampling gradient: size {g.shape[axis]} of axis {axis} "
                         f"is not a multiple of the ratio {ratio}")
    return _apply(xp, upsampling_matrix(g.shape[axis] // ratio, ratio).T, g, axis)


def _up_grad(g: Variable, out: Variable, x: Variable, ratio: int, axis: int) -> list:
    return [upsample_transpose(g, ratio=ratio, axis=axis)]    # y = U x: gx = U^T g


def _down_grad(g: Variable, out: Variable, gy: Variable, ratio: int, axis: int) -> list:
    return [upsample_bilinear(g, ratio=ratio, axis=axis)]     # z = U^T gy: ggy = U g


upsample_bilinear = Op("upsample_bilinear", _up_infer, _up_kernel, _up_grad,
                       doc="Bilinear upsampling of one axis by an integer ratio (edges "
                           "replicated), as each pass of Theano's bilinear_upsampling.")
upsample_transpose = Op("upsample_transpose", _down_infer, _down_kernel, _down_grad,
                        doc="The adjoint of upsample_bilinear (its gradient).")
