"""Fast NumPy kernels for Theano's 2D pooling over the last two axes: forward and gradient.

pool2d and pool2d_grad loop over the ws[0] * ws[1] window taps only; each tap is one strided
slice of the input. pool2d_switches and pool2d_grad_switches are max pooling by switches
(symconv.ops.pool_switches): the forward records each window's maximum, the backward scatters.
"""
from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from symconv.backends.numpy_conv import THREADS, parallel_map
from symconv.ops.pool import PoolWindow
from symconv.ops.pool_switches import (PoolSwitches, check_switches_grad, overlapping,
                                       record_switches, window_origins)

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


# window_origins of the last few (geometry, rows) seen: a pure function of the shapes, and
# building it broadcasts over short rows (a sixth of the switches forward on LeNet's layers).
_ORIGINS: dict[tuple, np.ndarray] = {}
_ORIGINS_KEPT = 4
_ORIGINS_LOCK = threading.Lock()   # the kernel's worker threads share the cache
SWITCHES_BLOCK = 1 << 21


def _origins(geo: PoolWindow, rows: int) -> np.ndarray:
    key = (geo.in_hw, geo.ws, geo.stride, geo.pad, geo.out_hw, rows)
    with _ORIGINS_LOCK:
        found = _ORIGINS.pop(key, None)
        if found is None:
            found = window_origins(np, geo, 0, rows)
            found.setflags(write=False)
            while len(_ORIGINS) >= _ORIGINS_KEPT:
                del _ORIGINS[next(iter(_ORIGINS))]
        _ORIGINS[key] = found   # most recently used last
    return found


def _tap_major(x3: np.ndarray, geo: PoolWindow) -> np.ndarray:
    """A copy of the windows of x3 (rows, H, W) as (wh, ww, rows, OH, OW): tap-major planes."""
    (oh, ow), (wh, ww), (sh, sw) = geo.out_hw, geo.ws, geo.stride
    nl = x3.shape[0]
    taps = np.empty((wh, ww, nl, oh, ow), x3.dtype)
    if geo.tiled and x3.shape[1:] == (oh * wh, ow * ww) and x3.flags.c_contiguous:
        # Windows that tile x exactly: split the columns with one 1-d strided copy per tap
        # column, then the rows by copying whole window rows as opaque ow-element blobs.
        cols = np.empty((ww, nl * oh * wh * ow), x3.dtype)
        np.copyto(cols, x3.reshape(-1, ww).T)
        blob = np.dtype((np.void, ow * x3.itemsize))
        rows = cols.reshape(ww, nl * oh, wh * ow).view(blob)          # (ww, nl * oh, wh)
        np.copyto(taps.reshape(wh, ww, nl * oh, ow).view(blob)[..., 0],
                  rows.transpose(2, 0, 1))
        return taps
    s0, s1, s2 = x3.strides
    np.copyto(taps, as_strided(x3, taps.shape, (s1, s2, s0, sh * s1, sw * s2),
                               writeable=False))
    return taps


def pool2d_switches(x: np.ndarray, ws: Pair, stride: Pair | None = None, pad: Pair = (0, 0),
                    ignore_border: bool = True, mode: str = "max") -> PoolSwitches:
    """Max pooling that also records every window's maximal elements (symconv.ops.pool_switches).

    Each chunk of leading rows is first copied tap-major, (wh, ww, rows, OH, OW): NumPy loops
    over short strided rows cost more than the arithmetic, and after this one copy every
    comparison and sum below runs over whole contiguous planes.
    """
    if mode != "max":
        raise ValueError(f"pool2d_switches: needs mode 'max', got {mode!r}")
    geo = PoolWindow(x.shape, ws, stride, pad, ignore_border, mode)
    nl = int(np.prod(x.shape[:-2], dtype=np.int64))
    (oh, ow), (wh, ww) = geo.out_hw, geo.ws
    y = np.empty((nl, oh, ow), x.dtype)
    index = np.empty(y.shape, np.intp)
    extras: list[tuple[np.ndarray, np.ndarray]] = []
    if y.size:
        xpad = geo.padded(np, x)
        x3 = xpad.reshape((nl,) + xpad.shape[-2:])

        def job(l0: int, l1: int) -> None:
            taps = _tap_major(x3[l0:l1], geo)
            extras.append(record_switches(np, list(taps.reshape((wh * ww,) + taps.shape[2:])),
                                          y[l0:l1], index[l0:l1], geo, l0, x.size,
                                          _origins(geo, l1 - l0)))

        threaded = nl > 1 and y.size * wh * ww >= _THREAD_MIN_SIZE
        # blocks of about SWITCHES_BLOCK bytes of taps: the copy and the dozen passes over it
        # stay in cache (at batch 500 one block per thread ran 1.5x slower per element)
        per_row = oh * ow * wh * ww * x.itemsize
        block = max(1, min(-(-nl // THREADS) if threaded else nl, SWITCHES_BLOCK // per_row))
        parallel_map(job, nl, block, threaded)
    pairs = [np.concatenate(part) for part in zip(*extras)] or [np.zeros(0, np.intp)] * 2
    return PoolSwitches(y.reshape(geo.out_shape), index.reshape(geo.out_shape), *pairs,
                        x.shape, overlapping({"ws": geo.ws, "stride": geo.stride}))


def pool2d_grad_switches(s: PoolSwitches, gy: np.ndarray) -> np.ndarray:
    """Gradient of max pooling from its switches: gy scattered to every window's maximal
    elements (added up where windows overlap). Returns an array of the input's shape."""
    check_switches_grad(s, gy)
    size = int(np.prod(s.x_shape, dtype=np.int64))
    if s.overlap or size == 0 or gy.size == 0:
        from symconv.ops.pool_switches import max_pool_2d_grad_switches
        return max_pool_2d_grad_switches.kernel(np, s, gy)
    nl = int(np.prod(s.x_shape[:-2], dtype=np.int64))
    plane = size // nl
    gx = np.empty(size + 1, gy.dtype)   # the last slot takes the windows that have no index
    index, g = s.index.reshape(nl, -1), gy.reshape(nl, -1)

    def job(l0: int, l1: int) -> None:
        gx[l0 * plane:l1 * plane] = 0
        gx[index[l0:l1].reshape(-1)] = g[l0:l1].reshape(-1)

    threaded = nl > 1 and size >= _THREAD_MIN_SIZE
    parallel_map(job, nl, -(-nl // THREADS) if threaded else nl, threaded)
    if s.extra_x.size:
        gx[s.extra_x] += g.reshape(-1)[s.extra_y]
    return gx[:size].reshape(s.x_shape)
