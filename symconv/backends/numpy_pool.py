"""Fast NumPy kernels for Theano's 2D pooling over the last two axes: forward and gradient.

Both loop over the ws[0] * ws[1] window taps only; each tap is one strided slice of the input.
"""
from __future__ import annotations

import numpy as np

from symconv.backends.numpy_conv import THREADS, parallel_map

Pair = tuple[int, int]
MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")

# Below this many elements the thread hand-off costs more than it saves.
_THREAD_MIN_SIZE = 1 << 16


def pool_output_size(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    """Theano's output length of one pooled axis."""
    if ignore_border:
        return (size + 2 * pad - ws) // stride + 1
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


class _Pool:
    """Window geometry of one pooling call."""

    def __init__(self, shape: tuple, ws: Pair, stride: Pair | None, pad: Pair,
                 ignore_border: bool, mode: str):
        if len(shape) < 2:
            raise ValueError(f"pool2d: input needs at least 2 dimensions, got shape {shape}")
        if mode not in MODES:
            raise ValueError(f"pool2d: mode must be one of {MODES}, got {mode!r}")
        self.ws = tuple(ws)
        self.stride = self.ws if stride is None else tuple(stride)
        self.pad = tuple(pad)
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise ValueError(f"pool2d: padding {self.pad} must be smaller than window {self.ws}")
        if any(self.pad) and not ignore_border:
            raise ValueError("pool2d: padding requires ignore_border=True")
        self.mode = mode
        self.in_hw = tuple(shape[-2:])
        self.out_hw = tuple(pool_output_size(n, w, s, p, ignore_border) for n, w, s, p in
                            zip(self.in_hw, self.ws, self.stride, self.pad))
        self.out_shape = tuple(shape[:-2]) + self.out_hw
        # Non-overlapping windows tiling (a crop of) the input need no padded copy.
        self.tiled = (self.stride == self.ws and not any(self.pad) and
                      all(o * w <= n for o, w, n in zip(self.out_hw, self.ws, self.in_hw)))
        # The padded buffer must also hold windows hanging past the end (ignore_border=False).
        self.ext_hw = tuple(max(n + 2 * p, (o - 1) * s + w) for n, p, o, s, w in
                            zip(self.in_hw, self.pad, self.out_hw, self.stride, self.ws))

    def taps(self):
        """(a, b, index): index selects, for every output, its window's element at tap (a, b)."""
        (oh, ow), (sh, sw) = self.out_hw, self.stride
        for a in range(self.ws[0]):
            for b in range(self.ws[1]):
                yield (Ellipsis, slice(a, a + sh * (oh - 1) + 1, sh),
                       slice(b, b + sw * (ow - 1) + 1, sw))

    def padded(self, x: np.ndarray) -> np.ndarray:
        """x in a buffer of ext_hw; padding is -inf for max (never wins), 0 for sums."""
        if self.tiled:
            return x
        if self.mode != "max":
            fill = 0
        elif x.dtype.kind == "f":
            fill = -np.inf
        else:
            fill = np.iinfo(x.dtype).min
        xp = np.full(x.shape[:-2] + self.ext_hw, fill, x.dtype)
        xp[self.interior()] = x
        return xp

    def interior(self) -> tuple:
        (ph, pw), (h, w) = self.pad, self.in_hw
        return (Ellipsis, slice(ph, ph + h), slice(pw, pw + w))

    def divisor(self, dtype: np.dtype) -> np.ndarray | None:
        """(OH, OW) window sizes that the average modes divide by; None for max and sum."""
        sizes = average_divisor(self.mode, self.in_hw, self.ws, self.stride, self.pad,
                                self.out_hw)
        return None if sizes is None else sizes.astype(dtype)


def average_divisor(mode: str, in_hw: Pair, ws: Pair, stride: Pair, pad: Pair,
                    out_hw: Pair) -> np.ndarray | None:
    """(OH, OW) sizes the averages divide by: each window clipped to the padded image
    (average_inc_pad) or to the real one (average_exc_pad); None for max and sum."""
    if mode in ("max", "sum"):
        return None
    sizes = []
    for n, w, s, p, o in zip(in_hw, ws, stride, pad, out_hw):
        start = np.arange(o) * s
        if mode == "average_inc_pad":
            sizes.append(np.minimum(start + w, n + 2 * p) - start)
        else:
            sizes.append(np.minimum(start + w, n + p) - np.maximum(start, p))
    return np.outer(*sizes)


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
    geo = _Pool(x.shape, ws, stride, pad, ignore_border, mode)
    y = np.empty(geo.out_shape, x.dtype)
    if y.size == 0:
        return y
    divisor = geo.divisor(x.dtype)

    def kernel(xc: np.ndarray, out: np.ndarray) -> None:
        xp = geo.padded(xc)
        reduce = np.maximum if mode == "max" else np.add
        taps = geo.taps()
        np.copyto(out, xp[next(taps)])
        for index in taps:
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
    geo = _Pool(x.shape, ws, stride, pad, ignore_border, mode)
    if gy.shape != geo.out_shape or (mode == "max" and y.shape != geo.out_shape):
        raise ValueError(f"pool2d_grad: gy {gy.shape} / y {y.shape}, expected {geo.out_shape}")
    divisor = geo.divisor(x.dtype)
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
        for index in geo.taps():
            if mask is None:
                out[index] = gyc
            else:
                np.equal(xc[index], yc, out=mask)
                np.multiply(mask, gyc, out=out[index])

    def general_kernel(xc: np.ndarray, yc: np.ndarray, gyc: np.ndarray,
                       out: np.ndarray) -> None:
        xp = geo.padded(xc)
        gxp = np.zeros(xp.shape, x.dtype)
        for index in geo.taps():
            if mode == "max":
                gxp[index] += (xp[index] == yc) * gyc
            else:
                gxp[index] += gyc
        out[...] = gxp[geo.interior()]

    kernel = tiled_kernel if geo.tiled else general_kernel
    y = y if mode == "max" else gy
    _split_leading((x, y, gy), kernel, gx)
    return gx
