"""Fast NumPy kernels for Theano's 2D pooling over the last two axes: forward and gradient.

Both loop over the ws[0] * ws[1] window taps only; each tap is one strided slice of the input.
"""
from __future__ import annotations

import numpy as np

from symconv.backends.numpy_conv import THREADS, parallel_map
from symconv.ops.pool import PoolWindow

Pair = tuple[int, int]
# Below this many elements the thread hand-off costs more than it saves.
_THREAD_MIN_SIZE = 1 << 16


def _divisor(geo: PoolWindow, dtype: np.dtype) -> np.ndarray | None:
    sizes = geo.divisor()
    return None if sizes is None else sizes.astype(dtype)


def _split_leading(x_like: tuple[np.ndarray, ...], kernel, out: np.ndarray) -> None:
    """Run ``kernel(*parts, out_part)`` on halves of the first axis in parallel when worth it."""
    n = out.shape[0] if out.ndim > 2 else 1
    if out.ndim <= 2 or n < 2 or out.size < _THREAD_MIN_SIZE or THREADS == 1:
        kernel(*x_like, out)
        return

    def job(n0: int, n1: int) -> None:
        kernel(*(a[n0:n1] for a in x_like), out[n0:n1])

    parallel_map(job, n, -(-n // THREADS), threaded=True)


def pool2d(x: np.ndarray, ws: Pair, stride: Pair | None = None, pad: Pair = (0, 0),
           ignore_border: bool = True, mode: str = "max") -> np.ndarray:
    """Pool the last two axes of x with Theano's semantics.

    Parameters
    ----------
    x : ndarray with ndim >= 2.
    ws : (wh, ww) window shape.
    stride : (sh, sw); None means ws.
    pad : (ph, pw) padding, each smaller than the window; needs ignore_border=True.
    ignore_border : True drops partial windows at the end; False keeps them (clipped).
    mode : 'max', 'sum', 'average_inc_pad' (padding counts in the divisor) or 'average_exc_pad'.

    Returns
    -------
    ndarray of shape x.shape[:-2] + (OH, OW), dtype of x.
    """
    geo = PoolWindow(x.shape, ws, stride, pad, ignore_border, mode)
    y = np.empty(geo.out_shape, x.dtype)
    if y.size == 0:
        return y
    divisor = _divisor(geo, x.dtype)

    def kernel(xc: np.ndarray, out: np.ndarray) -> None:
        xp = geo.padded(np, xc)
        reduce = np.maximum if mode == "max" else np.add
        np.copyto(out, xp[geo.taps[0]])
        for index in geo.taps[1:]:
            reduce(out, xp[index], out=out)
        if divisor is not None:
            out /= divisor

    _split_leading((x,), kernel, y)
    return y


def pool2d_grad(x: np.ndarray, y: np.ndarray, gy: np.ndarray, ws: Pair,
                stride: Pair | None = None, pad: Pair = (0, 0), ignore_border: bool = True,
                mode: str = "max") -> np.ndarray:
    """Gradient of ``sum(gy * pool2d(x, ...))`` wrt x, given y = pool2d(x, ...).

    For 'max' every element equal to its window's maximum gets the window's gy (Theano's rule,
    so ties all receive it); for the sums gy is spread over the window, divided by the divisor
    for the averages. Contributions of overlapping windows add up. Returns an array like x.
    """
    geo = PoolWindow(x.shape, ws, stride, pad, ignore_border, mode)
    geo.check_output_grad(gy.shape, y.shape if mode == "max" else None)
    divisor = _divisor(geo, x.dtype)
    gy = gy.astype(x.dtype, copy=False)
    if divisor is not None:
        gy = gy / divisor
    covers_all = geo.tiled and geo.out_hw[0] * geo.ws[0] == geo.in_hw[0] and \
        geo.out_hw[1] * geo.ws[1] == geo.in_hw[1]
    gx = np.empty(x.shape, x.dtype) if covers_all else np.zeros(x.shape, x.dtype)
    if gx.size == 0 or gy.size == 0:
        return gx

    def tiled_kernel(xc: np.ndarray, yc: np.ndarray, gyc: np.ndarray, out: np.ndarray) -> None:
        # Each input element lies in at most one window, so every tap writes, never adds.
        mask = np.empty(yc.shape, bool) if mode == "max" else None
        for index in geo.taps:
            if mask is None:
                out[index] = gyc
            else:
                np.equal(xc[index], yc, out=mask)
                np.multiply(mask, gyc, out=out[index])

    def general_kernel(xc: np.ndarray, yc: np.ndarray, gyc: np.ndarray,
                       out: np.ndarray) -> None:
        xp = geo.padded(np, xc)
        gxp = np.zeros(xp.shape, x.dtype)
        for index in geo.taps:
            if mode == "max":
                gxp[index] += (xp[index] == yc) * gyc
            else:
                gxp[index] += gyc
        out[...] = gxp[geo.interior]

    kernel = tiled_kernel if geo.tiled else general_kernel
    y = y if mode == "max" else gy
    _split_leading((x, y, gy), kernel, gx)
    return gx
