"""conv2d (im2col + cuBLAS GEMM batched over groups, col2im) and pool2d on the GPU.

The functions mirror symconv/backends/numpy_conv.py and numpy_pool.py (same arguments, same
Theano semantics) with the backend first; the lowerings below bind them to the ops of
symconv/ops/conv.py and symconv/ops/pool.py by name, as backends/numpy_cnn.py does on the CPU.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from symconv.backends.cuda import conv as conv_src
from symconv.backends.cuda import pool as pool_src
from symconv.backends.cuda.lowerings import BLOCK, grid_for, lowering
from symconv.graph import Constant, Node
from symconv.ops.conv import border_pad
from symconv.ops.pool import pool_kernel_args

Pair = tuple[int, int]
# columns of one chunk of images stay under this size (GEMM efficiency is flat well below it)
CHUNK_BYTES = 256 << 20
_INT32_MAX = 2 ** 31 - 1


def _index(*sizes: int) -> str:
    return "int32" if max(sizes) <= _INT32_MAX else "int64"


def _ints(index: str, values: list[int]) -> tuple:
    kind = np.int32 if index == "int32" else np.int64
    return tuple(kind(v) for v in values)


class _ConvGeometry:
    def __init__(self, x_shape: tuple, w_shape: tuple, pad: Pair, subsample: Pair,
                 dilation: Pair, groups: int) -> None:
        self.n, self.c, self.h, self.w = x_shape
        self.o, cg, self.kh, self.kw = w_shape
        if self.c != cg * groups or self.o % groups:
            raise ValueError(f"conv2d: input has {self.c} channels, filters {w_shape} with "
                             f"groups={groups} expect {cg * groups}")
        self.groups = groups
        (self.ph, self.pw), (self.sh, self.sw), (self.dh, self.dw) = pad, subsample, dilation
        self.oh = (self.h + 2 * self.ph - (self.kh - 1) * self.dh - 1) // self.sh + 1
        self.ow = (self.w + 2 * self.pw - (self.kw - 1) * self.dw - 1) // self.sw + 1
        if self.oh <= 0 or self.ow <= 0:
            raise ValueError(f"conv2d: filters {w_shape} do not fit images {x_shape} with "
                             f"pad {pad} and dilation {dilation}")
        self.p = self.oh * self.ow
        self.kg = cg * self.kh * self.kw
        self.og = self.o // groups

    def chunk(self, itemsize: int) -> int:
        per_image = self.c * self.kh * self.kw * self.p * itemsize
        return max(1, min(self.n, CHUNK_BYTES // max(per_image, 1)))

    def args(self, nb: int) -> tuple[str, tuple]:
        values = [nb, self.c, self.h, self.w, self.kh, self.kw, self.oh, self.ow,
                  self.sh, self.sw, self.ph, self.pw, self.dh, self.dw]
        index = _index(nb * self.c * self.h * self.w, self.c * self.kh * self.kw * nb * self.p)
        return index, _ints(index, values)


def _filter_matrix(cp: Any, w: Any, g: _ConvGeometry, flip: bool) -> Any:
    """(G, Og, Kg): true convolution pairs the first input tap with the last filter tap."""
    if flip:
        w = w[:, :, ::-1, ::-1]
    return cp.ascontiguousarray(w).reshape(g.groups, g.og, g.kg)


def _im2col(backend: Any, x: Any, g: _ConvGeometry, n0: int, nb: int) -> Any:
    cp = backend.xp
    cols = cp.empty((g.c * g.kh * g.kw, nb * g.p), x.dtype)
    index, ints = g.args(nb)
    kernel = backend.kernel(*conv_src.im2col_source(x.dtype.name, index))
    kernel((grid_for(cols.size),), (BLOCK,), (x[n0:n0 + nb], cols) + ints)
    return cols


def conv2d(backend: Any, x: Any, w: Any, pad: Pair = (0, 0), subsample: Pair = (1, 1),
           dilation: Pair = (1, 1), flip: bool = True, groups: int = 1) -> Any:
    """NCHW convolution: per chunk, y_g = W_g @ cols_g for every group g in one batched GEMM."""
    cp = backend.xp
    dtype = np.result_type(x.dtype, w.dtype)
    x = cp.ascontiguousarray(x, dtype)
    w = w.astype(dtype, copy=False)
    g = _ConvGeometry(x.shape, w.shape, tuple(pad), tuple(subsample), tuple(dilation), groups)
    wm = _filter_matrix(cp, w, g, flip)
    y = cp.empty((g.n, g.o, g.oh, g.ow), dtype)
    step = g.chunk(dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        cols = _im2col(backend, x, g, n0, nb).reshape(g.groups, g.kg, nb * g.p)
        yg = cp.matmul(wm, cols)                                   # (G, Og, nb * P)
        y[n0:n0 + nb].reshape(nb, g.groups, g.og, g.p)[...] = \
            yg.reshape(g.groups, g.og, nb, g.p).transpose(2, 0, 1, 3)
    return y


def _gy_matrix(cp: Any, gy: Any, g: _ConvGeometry, n0: int, nb: int) -> Any:
    """gy of a chunk as (G, Og, nb * P), the GEMM operand layout."""
    part = gy[n0:n0 + nb].reshape(nb, g.groups, g.og, g.p).transpose(1, 2, 0, 3)
    return cp.ascontiguousarray(part).reshape(g.groups, g.og, nb * g.p)


def conv2d_grad_inputs(backend: Any, gy: Any, w: Any, input_hw: Pair, pad: Pair = (0, 0),
                       subsample: Pair = (1, 1), dilation: Pair = (1, 1), flip: bool = True,
                       groups: int = 1) -> Any:
    """d sum(gy * conv2d(x, w)) / dx: cols = W^T @ gy per group, then col2im."""
    cp = backend.xp
    dtype = np.result_type(gy.dtype, w.dtype)
    gy = cp.ascontiguousarray(gy, dtype)
    w = w.astype(dtype, copy=False)
    x_shape = (gy.shape[0], w.shape[1] * groups) + tuple(int(s) for s in input_hw)
    g = _ConvGeometry(x_shape, w.shape, tuple(pad), tuple(subsample), tuple(dilation), groups)
    _check_gy(gy, g)
    wt = _filter_matrix(cp, w, g, flip).transpose(0, 2, 1)          # (G, Kg, Og)
    gx = cp.empty(x_shape, dtype)
    step = g.chunk(dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        gcols = cp.matmul(wt, _gy_matrix(cp, gy, g, n0, nb))         # (G, Kg, nb * P)
        index, ints = g.args(nb)
        kernel = backend.kernel(*conv_src.col2im_source(dtype.name, index))
        out = gx[n0:n0 + nb]
        kernel((grid_for(out.size),), (BLOCK,), (gcols, out) + ints)
    return gx


def conv2d_grad_weights(backend: Any, x: Any, gy: Any, filter_hw: Pair, pad: Pair = (0, 0),
                        subsample: Pair = (1, 1), dilation: Pair = (1, 1), flip: bool = True,
                        groups: int = 1) -> Any:
    """d sum(gy * conv2d(x, w)) / dw: sum over chunks of gy_g @ cols_g^T, as filters."""
    cp = backend.xp
    dtype = np.result_type(x.dtype, gy.dtype)
    x = cp.ascontiguousarray(x, dtype)
    gy = cp.ascontiguousarray(gy, dtype)
    w_shape = (gy.shape[1], x.shape[1] // groups) + tuple(int(s) for s in filter_hw)
    g = _ConvGeometry(x.shape, w_shape, tuple(pad), tuple(subsample), tuple(dilation), groups)
    _check_gy(gy, g)
    gwm = cp.zeros((g.groups, g.og, g.kg), dtype)
    step = g.chunk(dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        cols = _im2col(backend, x, g, n0, nb).reshape(g.groups, g.kg, nb * g.p)
        gwm += cp.matmul(_gy_matrix(cp, gy, g, n0, nb), cols.transpose(0, 2, 1))
    gw = gwm.reshape(w_shape)
    return cp.ascontiguousarray(gw[:, :, ::-1, ::-1]) if flip else gw


def _check_gy(gy: Any, g: _ConvGeometry) -> None:
    if tuple(gy.shape) != (g.n, g.o, g.oh, g.ow):
        raise ValueError(f"conv2d gradient: gy has shape {tuple(gy.shape)}, the convolution "
                         f"gives {(g.n, g.o, g.oh, g.ow)}")


def _pool_geometry(shape: tuple, ws: Pair, stride: Pair | None, pad: Pair,
                   ignore_border: bool, mode: str) -> tuple[tuple, list[int]]:
    from symconv.backends.numpy_pool import _Pool
    geo = _Pool(shape, ws, stride, pad, ignore_border, mode)   # validates like the CPU kernel
    b = math.prod(shape[:-2])
    (h, w), (oh, ow) = geo.in_hw, geo.out_hw
    return geo.out_shape, [b, h, w, oh, ow, *geo.ws, *geo.stride, *geo.pad]


def pool2d(backend: Any, x: Any, ws: Pair, stride: Pair | None = None, pad: Pair = (0, 0),
           ignore_border: bool = True, mode: str = "max") -> Any:
    """Theano's pool2d over the last two axes (one thread per output)."""
    cp = backend.xp
    x = cp.ascontiguousarray(x)
    out_shape, geometry = _pool_geometry(x.shape, ws, stride, pad, ignore_border, mode)
    y = cp.empty(out_shape, x.dtype)
    if y.size == 0:
        return y
    index = _index(x.size, y.size)
    kernel = backend.kernel(*pool_src.pool_source(mode, x.dtype.name, index))
    kernel((grid_for(y.size),), (BLOCK,), (x, y) + _ints(index, geometry))
    return y


def pool2d_grad(backend: Any, x: Any, y: Any, gy: Any, ws: Pair, stride: Pair | None = None,
                pad: Pair = (0, 0), ignore_border: bool = True, mode: str = "max") -> Any:
    """Gradient of pool2d wrt x (one thread per input element, gathering its windows)."""
    cp = backend.xp
    x = cp.ascontiguousarray(x)
    out_shape, geometry = _pool_geometry(x.shape, ws, stride, pad, ignore_border, mode)
    gy = cp.ascontiguousarray(gy, x.dtype)
    y = cp.ascontiguousarray(y, x.dtype) if mode == "max" else gy
    if tuple(gy.shape) != out_shape or tuple(y.shape) != out_shape:
        raise ValueError(f"pool2d_grad: gy {tuple(gy.shape)} / y {tuple(y.shape)}, expected "
                         f"{out_shape}")
    gx = cp.empty(x.shape, x.dtype)
    if gx.size == 0:
        return gx
    if gy.size == 0:
        gx.fill(0)
        return gx
    index = _index(x.size, gy.size)
    kernel = backend.kernel(*pool_src.pool_grad_source(mode, x.dtype.name, index))
    kernel((grid_for(x.size),), (BLOCK,), (x, y, gy, gx) + _ints(index, geometry))
    return gx


_FLOATS = ("float16", "float32", "float64")


def _conv_args(node: Node) -> tuple[Any, tuple, tuple, bool, int]:
    p = node.kw
    return (p["border_mode"], p["subsample"], p["filter_dilation"], p["filter_flip"],
            p["num_groups"])


def _static_pair(var: Any) -> Pair | None:
    """A spatial-size input known when the graph is built (a constant), else None."""
    if isinstance(var, Constant):
        return int(var.data[0]), int(var.data[1])
    return None


def _pair_value(value: Any) -> Pair:
    host = value.get() if hasattr(value, "get") else value   # a device copy costs one sync
    return int(host[0]), int(host[1])


def _all_float(node: Node, n: int) -> bool:
    return all(i.dtype in _FLOATS for i in node.inputs[:n]) and node.out.dtype in _FLOATS


@lowering("conv2d")
def _conv2d(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    border_mode, subsample, dilation, flip, groups = _conv_args(node)

    def thunk(x: Any, w: Any) -> Any:
        pad = border_pad(border_mode, w.shape[2], w.shape[3], dilation)
        return conv2d(backend, x, w, pad, subsample, dilation, flip, groups)
    return thunk


@lowering("conv2d_grad_wrt_inputs")
def _conv2d_grad_inputs(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    border_mode, subsample, dilation, flip, groups = _conv_args(node)
    static_hw = _static_pair(node.inputs[2])

    def thunk(gy: Any, w: Any, hw: Any) -> Any:
        pad = border_pad(border_mode, w.shape[2], w.shape[3], dilation)
        return conv2d_grad_inputs(backend, gy, w, static_hw or _pair_value(hw), pad,
                                  subsample, dilation, flip, groups)
    return thunk


@lowering("conv2d_grad_wrt_weights")
def _conv2d_grad_weights(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    border_mode, subsample, dilation, flip, groups = _conv_args(node)
    static_khw = _static_pair(node.inputs[2])

    def thunk(x: Any, gy: Any, khw: Any) -> Any:
        kh, kw = static_khw or _pair_value(khw)
        pad = border_pad(border_mode, kh, kw, dilation)
        return conv2d_grad_weights(backend, x, gy, (kh, kw), pad, subsample, dilation, flip,
                                   groups)
    return thunk


@lowering("pool_2d")
def _pool_2d(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 1):
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any) -> Any:
        return pool2d(backend, x, **args)
    return thunk


@lowering("max_pool_2d_grad")
def _max_pool_2d_grad(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 3) or node.inputs[0].dtype != node.out.dtype:
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any, y: Any, gy: Any) -> Any:
        return pool2d_grad(backend, x, y, gy, **args)
    return thunk


@lowering("average_pool_2d_grad")
def _average_pool_2d_grad(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2) or node.inputs[0].dtype != node.out.dtype:
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any, gy: Any) -> Any:
        return pool2d_grad(backend, x, gy, gy, **args)
    return thunk
