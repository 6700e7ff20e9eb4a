"""NumPy lowerings of the conv and pool families: the op records bound to the fast kernels of
numpy_conv and numpy_pool (im2col + BLAS, strided-view pooling)."""
from __future__ import annotations

import numpy as np

from symconv.backends import blas, numpy_conv, numpy_pool
from symconv.backends.base import Backend, Thunk
from symconv.backends.numpy_lowerings import lowering
from symconv.graph import Node
from symconv.ops import conv as C
from symconv.ops import pool as P
from symconv.ops import pool_switches as PS
from symconv.ops.conv import ConvParams
from symconv.ops.pool import pool_kernel_args


@lowering("conv2d")
def _conv2d(backend: Backend, node: Node) -> Thunk:
    params = ConvParams.of(node)
    args = params.kernel_args()

    def conv2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return numpy_conv.conv2d(x, w, params.pad(w.shape[2], w.shape[3]), **args)
    return conv2d


@lowering("conv2d_grad_wrt_inputs")
def _conv2d_grad_inputs(backend: Backend, node: Node) -> Thunk:
    params = ConvParams.of(node)
    args = params.kernel_args()

    def conv2d_grad_wrt_inputs(gy: np.ndarray, w: np.ndarray, hw: np.ndarray) -> np.ndarray:
        return numpy_conv.conv2d_grad_inputs(gy, w, (int(hw[0]), int(hw[1])),
                                             params.pad(w.shape[2], w.shape[3]), **args)
    return conv2d_grad_wrt_inputs


@lowering("conv2d_grad_wrt_weights")
def _conv2d_grad_weights(backend: Backend, node: Node) -> Thunk:
    params = ConvParams.of(node)
    args = params.kernel_args()

    def conv2d_grad_wrt_weights(x: np.ndarray, gy: np.ndarray, khw: np.ndarray) -> np.ndarray:
        kh, kw = int(khw[0]), int(khw[1])
        return numpy_conv.conv2d_grad_weights(x, gy, (kh, kw), params.pad(kh, kw), **args)
    return conv2d_grad_wrt_weights


@lowering("pool_2d")
def _pool_2d(backend: Backend, node: Node) -> Thunk:
    args = pool_kernel_args(node)

    def pool_2d(x: np.ndarray) -> np.ndarray:
        return numpy_pool.pool2d(x, **args)
    return pool_2d


@lowering("max_pool_2d_grad")
def _max_pool_2d_grad(backend: Backend, node: Node) -> Thunk:
    if node.inputs[0].dtype != node.out.dtype:   # the fast kernel works in the input's dtype
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def max_pool_2d_grad(x: np.ndarray, y: np.ndarray, gy: np.ndarray) -> np.ndarray:
        return numpy_pool.pool2d_grad(x, y, gy, **args)
    return max_pool_2d_grad


@lowering("average_pool_2d_grad")
def _average_pool_2d_grad(backend: Backend, node: Node) -> Thunk:
    if node.inputs[0].dtype != node.out.dtype:
        return backend.generic_thunk(node)
    args = pool_kernel_args(node)

    def average_pool_2d_grad(x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        return numpy_pool.pool2d_grad(x, gy, gy, **args)
    return average_pool_2d_grad


# the ops lowered above to kernels that run on numpy_conv's worker threads
_THREADED = frozenset({C.conv2d, C.conv2d_grad_wrt_inputs, C.conv2d_grad_wrt_weights,
                       P.pool_2d, P.max_pool_2d_grad, P.average_pool_2d_grad,
                       PS.max_pool_2d_switches, PS.max_pool_2d_grad_switches})

# Below this many multiply-adds a matmul is not worth splitting over the worker threads.
_SPLIT_DOT_MIN = 1 << 21


@lowering("dot")
def _dot(backend: Backend, node: Node) -> Thunk:
    """Float matrix products with single-threaded BLAS, large ones split by rows over the conv
    kernels' worker threads, so that dense layers never oversubscribe the cores either."""
    a, b = node.inputs
    if a.ndim != 2 or b.ndim != 2 or node.out.dtype not in ("float32", "float64") or \
            a.dtype != b.dtype:
        return backend.generic_thunk(node)
    threads = numpy_conv.THREADS
    if not backend.program_ops & _THREADED:
        # no conv kernel shares this program, so OpenBLAS's own threads cannot steal its cores
        return np.dot

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = a.shape[0]
        if threads == 1 or m < 2 * threads or m * a.shape[1] * b.shape[1] < _SPLIT_DOT_MIN:
            # Single-threaded even when small: a threaded call leaves OpenBLAS workers
            # spin-waiting, and they would steal a core from the next conv kernel.
            with blas.num_threads(1):
                return np.dot(a, b)
        out = np.empty((m, b.shape[1]), np.result_type(a, b))

        def rows(i0: int, i1: int) -> None:
            np.dot(a[i0:i1], b, out=out[i0:i1])
        numpy_conv.parallel_map(rows, m, -(-m // threads), True)
        return out
    return dot


@lowering("max_pool_2d_switches")
def _max_pool_2d_switches(backend: Backend, node: Node) -> Thunk:
    args = pool_kernel_args(node)

    def max_pool_2d_switches(x: np.ndarray) -> numpy_pool.PoolSwitches:
        return numpy_pool.pool2d_switches(x, **args)
    return max_pool_2d_switches


@lowering("max_pool_2d_grad_switches")
def _max_pool_2d_grad_switches(backend: Backend, node: Node) -> Thunk:
    return numpy_pool.pool2d_grad_switches
