"""conv2d (im2col + cuBLAS GEMM batched over groups, col2im) and pool2d on the GPU; the CUDA
counterpart of backends/numpy_cnn.py (no cuDNN).

The functions mirror symconv/backends/numpy_conv.py and numpy_pool.py (same arguments, same
Theano semantics) with the backend first; the lowerings below bind them to the ops of
symconv/ops/conv.py and symconv/ops/pool.py by name, as backends/numpy_cnn.py does on the CPU.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from symconv.backends.cuda import catalog
from symconv.backends.cuda import conv as conv_src
from symconv.backends.cuda import pool as pool_src
from symconv.backends.cuda.lowerings import BLOCK, grid_for, lowering
from symconv.graph import Constant, Node
from symconv.ops.conv import ConvGeometry, ConvParams
from symconv.ops.pool import PoolWindow, pool_kernel_args

Pair = tuple[int, int]
# columns of one chunk of images stay under this size (GEMM efficiency is flat well below it)
CHUNK_BYTES = 256 << 20
_INT32_MAX = 2 ** 31 - 1


def _index(*sizes: int) -> str:
    return "int32" if max(sizes) <= _INT32_MAX else "int64"


def _ints(index: str, values: list[int]) -> tuple:
    kind = np.int32 if index == "int32" else np.int64
    return tuple(kind(v) for v in values)


def _chunk(g: ConvGeometry, itemsize: int) -> int:
    """Images per chunk: the chunk's columns stay under CHUNK_BYTES."""
    per_image = g.c * g.kh * g.kw * g.p * itemsize
    return max(1, min(g.n, CHUNK_BYTES // max(per_image, 1)))


def _args(g: ConvGeometry, nb: int) -> tuple[str, tuple]:
    """Index width and the run-time geometry arguments of the im2col/col2im kernels."""
    values = [nb, g.c, g.h, g.w, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw]
    index = _index(nb * g.c * g.h * g.w, g.c * g.kh * g.kw * nb * g.p)
    return index, _ints(index, values)


def _filter_matrix(cp: Any, w: Any, g: ConvGeometry) -> Any:
    """(G, Og, Kg): true convolution pairs the first input tap with the last filter tap."""
    return cp.ascontiguousarray(g.oriented(w)).reshape(g.groups, g.og, g.kg)


def _im2col(backend: Any, x: Any, g: ConvGeometry, n0: int, nb: int) -> Any:
    cp = backend.xp
    cols = cp.empty((g.c * g.kh * g.kw, nb * g.p), x.dtype)
    index, ints = _args(g, nb)
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
    g = ConvGeometry.make(x.shape, w.shape, tuple(pad), tuple(subsample), tuple(dilation),
                          flip, groups)
    wm = _filter_matrix(cp, w, g)
    y = cp.empty((g.n, g.o, g.oh, g.ow), dtype)
    step = _chunk(g, dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        cols = _im2col(backend, x, g, n0, nb).reshape(g.groups, g.kg, nb * g.p)
        yg = cp.matmul(wm, cols)                                   # (G, Og, nb * P)
        y[n0:n0 + nb].reshape(nb, g.groups, g.og, g.p)[...] = \
            yg.reshape(g.groups, g.og, nb, g.p).transpose(2, 0, 1, 3)
    return y


def _gy_matrix(cp: Any, gy: Any, g: ConvGeometry, n0: int, nb: int) -> Any:
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
    g = ConvGeometry.make(x_shape, w.shape, tuple(pad), tuple(subsample), tuple(dilation),
                          flip, groups)
    g.check_output_grad(gy.shape)
    wt = _filter_matrix(cp, w, g).transpose(0, 2, 1)          # (G, Kg, Og)
    gx = cp.empty(x_shape, dtype)
    step = _chunk(g, dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        gcols = cp.matmul(wt, _gy_matrix(cp, gy, g, n0, nb))         # (G, Kg, nb * P)
        index, ints = _args(g, nb)
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
    g = ConvGeometry.make(x.shape, w_shape, tuple(pad), tuple(subsample), tuple(dilation),
                          flip, groups)
    g.check_output_grad(gy.shape)
    gwm = cp.zeros((g.groups, g.og, g.kg), dtype)
    step = _chunk(g, dtype.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        cols = _im2col(backend, x, g, n0, nb).reshape(g.groups, g.kg, nb * g.p)
        gwm += cp.matmul(_gy_matrix(cp, gy, g, n0, nb), cols.transpose(0, 2, 1))
    gw = gwm.reshape(w_shape)
    return cp.ascontiguousarray(g.oriented(gw)) if g.flip else gw


def _pool_geometry(shape: tuple, ws: Pair, stride: Pair | None, pad: Pair,
                   ignore_border: bool, mode: str) -> tuple[tuple, list[int]]:
    geo = PoolWindow(shape, ws, stride, pad, ignore_border, mode)
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
        PoolWindow(x.shape, ws, stride, pad, ignore_border, mode).check_output_grad(
            gy.shape, y.shape)
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


@lowering("conv2d", sources=catalog.conv_sources)
def _conv2d(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    params = ConvParams.of(node)
    args = params.kernel_args()

    def thunk(x: Any, w: Any) -> Any:
        return conv2d(backend, x, w, params.pad(w.shape[2], w.shape[3]), **args)
    return thunk


@lowering("conv2d_grad_wrt_inputs", sources=catalog.conv_sources)
def _conv2d_grad_inputs(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    params = ConvParams.of(node)
    args = params.kernel_args()
    static_hw = _static_pair(node.inputs[2])

    def thunk(gy: Any, w: Any, hw: Any) -> Any:
        return conv2d_grad_inputs(backend, gy, w, static_hw or _pair_value(hw),
                                  params.pad(w.shape[2], w.shape[3]), **args)
    return thunk


@lowering("conv2d_grad_wrt_weights", sources=catalog.conv_sources)
def _conv2d_grad_weights(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2):
        return backend.generic_thunk(node)
    params = ConvParams.of(node)
    args = params.kernel_args()
    static_khw = _static_pair(node.inputs[2])

    def thunk(x: Any, gy: Any, khw: Any) -> Any:
        kh, kw = static_khw or _pair_value(khw)
        return conv2d_grad_weights(backend, x, gy, (kh, kw), params.pad(kh, kw), **args)
    return thunk


@lowering("pool_2d", sources=catalog.pool_sources)
def _pool_2d(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 1):
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any) -> Any:
        return pool2d(backend, x, **args)
    return thunk


@lowering("max_pool_2d_grad", sources=catalog.pool_grad_sources)
def _max_pool_2d_grad(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 3) or node.inputs[0].dtype != node.out.dtype:
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any, y: Any, gy: Any) -> Any:
        return pool2d_grad(backend, x, y, gy, **args)
    return thunk


@lowering("average_pool_2d_grad", sources=catalog.pool_grad_sources)
def _average_pool_2d_grad(backend: Any, node: Node) -> Callable:
    if not _all_float(node, 2) or node.inputs[0].dtype != node.out.dtype:
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def thunk(x: Any, gy: Any) -> Any:
        return pool2d_grad(backend, x, gy, gy, **args)
    return thunk
