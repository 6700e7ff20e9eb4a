"""Fast NumPy kernels for Theano's 2D convolution: forward and the gradients wrt inputs and filters.

Every kernel lowers to im2col over a strided view of the (padded) input plus BLAS matmuls, one
batch chunk at a time. Arrays are NCHW; filters are (O, C // groups, kh, kw).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from symconv.backends import blas
from symconv.ops.conv import ConvGeometry

Pair = tuple[int, int]

# One chunk's columns are sized to stay in the last-level cache, so the im2col write and the
# matmul read do not go through DRAM; 4-8 MiB measured best on a 32 MiB L3.
CHUNK_BYTES = 6 << 20
THREADS = min(2, os.cpu_count() or 1)
_executor: ThreadPoolExecutor | None = None


# below this many multiply-adds a GEMM runs on one BLAS thread: handing half of it to a second
# thread costs more than it saves, and on a busy machine far more (a batch-1 LeNet forward took
# 1.1 ms with two OpenBLAS threads and 0.38 ms with one)
SMALL_GEMM = 1 << 21


def parallel_map(job: Callable[[int, int], Any], n: int, chunk: int, threaded: bool,
                 gemm_size: int | None = None) -> list:
    """Run ``job(start, stop)`` over ``range(n)`` cut into chunks, on a small thread pool if asked.

    NumPy ufuncs, copies and BLAS release the GIL, so threads give real parallelism here.
    ``gemm_size``: the multiply-adds of the whole job; a small job that is not split runs its
    BLAS calls on one thread.
    """
    global _executor
    chunk = max(int(chunk), 1)
    bounds = [(i, min(i + chunk, n)) for i in range(0, n, chunk)] or [(0, 0)]   # n == 0 too
    if not threaded or THREADS == 1 or len(bounds) == 1:
        if gemm_size is not None and gemm_size < SMALL_GEMM:
            with blas.num_threads(1):
                return [job(*b) for b in bounds]
        return [job(*b) for b in bounds]
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="symconv-kernel")
    # Each worker's BLAS call stays single-threaded: the workers already fill the cores.
    with blas.num_threads(1):
        return list(_executor.map(lambda b: job(*b), bounds))


@dataclass(frozen=True)
class _Geometry(ConvGeometry):
    """The op family's conv geometry plus the im2col layout this backend picked."""

    layout: str = "nchw"


def _geometry(x_shape: tuple, w_shape: tuple, pad: Pair, subsample: Pair, dilation: Pair,
              flip: bool, groups: int, layout: str | None) -> _Geometry:
    g = ConvGeometry.make(x_shape, w_shape, pad, subsample, dilation, flip, groups)
    if layout is None:
        # Pick the im2col layout whose gather copies the longer contiguous runs: output rows
        # (NCHW columns, good for few channels) or kernel rows x channels (NHWC columns).
        nchw_run = g.ow if g.sw == 1 else 1
        nhwc_run = g.cg * (g.kw if g.dw == 1 and groups == 1 else 1)
        layout = "nchw" if nchw_run >= nhwc_run else "nhwc"
    if layout not in ("nchw", "nhwc"):
        raise ValueError(f"conv2d: unknown layout {layout!r}")
    return _Geometry(**vars(g), layout=layout)


def _chunk(g: _Geometry, itemsize: int) -> int:
    """Images per chunk: columns within CHUNK_BYTES, and at least one chunk per thread."""
    per_image = g.kg * g.groups * g.oh * g.ow * itemsize
    chunk = max(1, min(g.n, CHUNK_BYTES // per_image))
    return min(chunk, -(-g.n // THREADS))


def _padded_input(x: np.ndarray, g: _Geometry) -> np.ndarray:
    """The zero-padded input, NCHW or NHWC as the layout wants."""
    if g.layout == "nchw":
        if not (g.ph or g.pw):
            return x
        xp = np.zeros((g.n, g.c, g.hp, g.wp), x.dtype)
        xp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x
        return xp
    if not (g.ph or g.pw):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    xp = np.zeros((g.n, g.hp, g.wp, g.c), x.dtype)
    xp[:, g.ph:g.ph + g.h, g.pw:g.pw + g.w, :] = x.transpose(0, 2, 3, 1)
    return xp


def _windows(xp: np.ndarray, g: _Geometry) -> np.ndarray:
    """Read-only im2col view: (N, G, Cg, kh, kw, OH, OW) for NCHW, (G, N, OH, OW, kh, kw, Cg)
    for NHWC; the last four or three axes of one image flatten to one column block."""
    if g.layout == "nchw":
        sn, sc, sy, sx = xp.strides
        shape = (g.n, g.groups, g.cg, g.kh, g.kw, g.oh, g.ow)
        strides = (sn, g.cg * sc, sc, g.dh * sy, g.dw * sx, g.sh * sy, g.sw * sx)
    else:
        sn, sy, sx, sc = xp.strides
        shape = (g.groups, g.n, g.oh, g.ow, g.kh, g.kw, g.cg)
        strides = (g.cg * sc, sn, g.sh * sy, g.sw * sx, g.dh * sy, g.dw * sx, sc)
    return as_strided(xp, shape, strides, writeable=False)


def _columns(win: np.ndarray, g: _Geometry, n0: int, n1: int) -> np.ndarray:
    """Contiguous columns of images n0:n1: (nb, G, Kg, P) for NCHW, (G, nb * P, Kg) for NHWC."""
    nb, p = n1 - n0, g.oh * g.ow
    if g.layout == "nchw":
        cols = np.empty((nb,) + win.shape[1:], win.dtype)
        np.copyto(cols, win[n0:n1])
        return cols.reshape(nb, g.groups, g.kg, p)
    cols = np.empty((g.groups, nb) + win.shape[2:], win.dtype)
    np.copyto(cols, win[:, n0:n1])
    return cols.reshape(g.groups, nb * p, g.kg)


def _filter_matrix(w: np.ndarray, g: _Geometry) -> np.ndarray:
    """Filters as (G, Og, Kg), Kg ordered like the layout's columns; flip makes it a convolution."""
    wf = g.oriented(w).reshape(g.groups, g.og, g.cg, g.kh, g.kw)
    if g.layout == "nhwc":
        wf = wf.transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(wf).reshape(g.groups, g.og, g.kg)


def _filters_from_matrix(gw: np.ndarray, g: _Geometry) -> np.ndarray:
    """Inverse of _filter_matrix: (G, Og, Kg) back to (O, Cg, kh, kw)."""
    if g.layout == "nchw":
        gw = gw.reshape(g.o, g.cg, g.kh, g.kw)
    else:
        gw = gw.reshape(g.o, g.kh, g.kw, g.cg).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(g.oriented(gw))


def _common_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def conv2d(x: np.ndarray, w: np.ndarray, pad: Pair = (0, 0), subsample: Pair = (1, 1),
           dilation: Pair = (1, 1), flip: bool = True, groups: int = 1, *,
           layout: str | None = None) -> np.ndarray:
    """2D convolution of NCHW images with (O, C // groups, kh, kw) filters, Theano semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (O, C // groups, kh, kw)
    pad : (ph, pw) zero padding on both sides of each spatial axis.
    subsample : (sh, sw) strides.
    dilation : (dh, dw) filter dilation.
    flip : True for true convolution (filters flipped, Theano's default), False for
        cross-correlation.
    groups : number of channel groups.
    layout : internal im2col layout, 'nchw' or 'nhwc'; None picks the faster one for the shape.

    Returns
    -------
    ndarray, shape (N, O, (H + 2ph - dkh) // sh + 1, (W + 2pw - dkw) // sw + 1) with
    dk = (k - 1) * dilation + 1, in the dtype of the inputs.
    """
    dtype = _common_dtype(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    g = _geometry(x.shape, w.shape, pad, subsample, dilation, flip, groups, layout)
    win = _windows(_padded_input(x, g), g)
    wm = _filter_matrix(w, g)
    y = np.empty((g.n, g.o, g.oh, g.ow), dtype)
    p = g.oh * g.ow

    def job(n0: int, n1: int) -> None:
        cols = _columns(win, g, n0, n1)
        nb = n1 - n0
        out = y[n0:n1].reshape(nb, g.groups, g.og, p)
        if g.layout == "nchw":
            np.matmul(wm, cols, out=out)
        else:
            yc = np.matmul(cols, wm.transpose(0, 2, 1))
            out[...] = yc.reshape(g.groups, nb, p, g.og).transpose(1, 0, 3, 2)

    parallel_map(job, g.n, _chunk(g, dtype.itemsize), True, g.n * g.o * g.kg * p)
    return y


def conv2d_grad_inputs(gy: np.ndarray, w: np.ndarray, input_hw: Pair, pad: Pair = (0, 0),
                       subsample: Pair = (1, 1), dilation: Pair = (1, 1), flip: bool = True,
                       groups: int = 1, *, layout: str | None = None) -> np.ndarray:
    """Gradient of ``sum(gy * conv2d(x, w, ...))`` wrt x, where x has spatial size input_hw.

    Parameters are those of `conv2d`; gy has conv2d's output shape. Returns (N, C, H, W).
    """
    dtype = _common_dtype(gy, w)
    gy, w = np.ascontiguousarray(gy, dtype), w.astype(dtype, copy=False)
    x_shape = (gy.shape[0], w.shape[1] * groups) + tuple(input_hw)
    g = _geometry(x_shape, w.shape, pad, subsample, dilation, flip, groups, layout)
    g.check_output_grad(gy.shape)
    wm = _filter_matrix(w, g)
    # NHWC: the filters per tap, (G, kh * kw, Og, Cg).
    wt = np.ascontiguousarray(wm.reshape(g.groups, g.og, g.kh * g.kw, g.cg).transpose(0, 2, 1, 3))
    gx = np.empty(x_shape, dtype)
    p = g.oh * g.ow
    crop = (slice(g.ph, g.ph + g.h), slice(g.pw, g.pw + g.w))

    def job(n0: int, n1: int) -> None:
        nb = n1 - n0
        gyc = gy[n0:n1].reshape(nb, g.groups, g.og, p)
        if g.layout == "nchw":
            gcols = np.matmul(wm.transpose(0, 2, 1), gyc)
            gcols = gcols.reshape(nb, g.groups, g.cg, g.kh, g.kw, g.oh, g.ow)
            gxp = np.zeros((nb, g.groups, g.cg, g.hp, g.wp), dtype)
            for i in range(g.kh):
                for j in range(g.kw):
                    gxp[(Ellipsis,) + g.tap(i, j)] += gcols[:, :, :, i, j]
            gx[n0:n1] = gxp.reshape(nb, g.c, g.hp, g.wp)[(Ellipsis,) + crop]
        else:
            gyt = np.ascontiguousarray(gyc.transpose(1, 0, 3, 2)).reshape(g.groups, 1, nb * p, g.og)
            # One matmul per tap (stacked) makes each tap's block contiguous, so the col2im adds
            # below stream whole image rows instead of Cg-long runs (3x faster on LeNet conv2).
            gcols = np.matmul(gyt, wt).reshape(g.groups, g.kh, g.kw, nb, g.oh, g.ow, g.cg)
            gxp = np.zeros((nb, g.hp, g.wp, g.groups, g.cg), dtype)
            for i in range(g.kh):
                for j in range(g.kw):
                    tap = gcols[:, i, j].transpose(1, 2, 3, 0, 4)
                    gxp[(slice(None),) + g.tap(i, j)] += tap
            gxp = gxp.reshape(nb, g.hp, g.wp, g.c)[(slice(None),) + crop]
            gx[n0:n1] = gxp.transpose(0, 3, 1, 2)

    parallel_map(job, g.n, _chunk(g, dtype.itemsize), True, g.n * g.o * g.kg * p)
    return gx


def conv2d_grad_weights(x: np.ndarray, gy: np.ndarray, filter_hw: Pair, pad: Pair = (0, 0),
                        subsample: Pair = (1, 1), dilation: Pair = (1, 1), flip: bool = True,
                        groups: int = 1, *, layout: str | None = None) -> np.ndarray:
    """Gradient of ``sum(gy * conv2d(x, w, ...))`` wrt w, where w has spatial size filter_hw.

    Parameters are those of `conv2d`; gy has conv2d's output shape. Returns (O, C // groups,
    kh, kw).
    """
    dtype = _common_dtype(x, gy)
    x, gy = x.astype(dtype, copy=False), np.ascontiguousarray(gy, dtype)
    w_shape = (gy.shape[1], x.shape[1] // groups) + tuple(filter_hw)
    g = _geometry(x.shape, w_shape, pad, subsample, dilation, flip, groups, layout)
    g.check_output_grad(gy.shape)
    win = _windows(_padded_input(x, g), g)
    p = g.oh * g.ow

    def job(n0: int, n1: int) -> np.ndarray:
        cols = _columns(win, g, n0, n1)
        nb = n1 - n0
        gyc = gy[n0:n1].reshape(nb, g.groups, g.og, p)
        if g.layout == "nchw":
            return np.matmul(gyc, cols.transpose(0, 1, 3, 2)).sum(axis=0)
        gyt = np.ascontiguousarray(gyc.transpose(1, 2, 0, 3)).reshape(g.groups, g.og, nb * p)
        return np.matmul(gyt, cols)

    partials = parallel_map(job, g.n, _chunk(g, dtype.itemsize), True, g.n * g.o * g.kg * p)
    return _filters_from_matrix(np.sum(partials, axis=0, dtype=dtype), g)
