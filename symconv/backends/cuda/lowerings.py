"""CuPy lowerings: nodes bound to generated kernels (elementwise, reductions, row-wise nnet).

Each thunk plans a launch once per input shape/stride signature (a dict lookup afterwards):
the steady-state call allocates the output from CuPy's pool and launches one kernel. GPU-only
code: it is imported by ``symconv.backends.cupy`` after CuPy loaded, and reaches CuPy only
through ``backend.xp``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from symconv.backends.base import Lowering, Thunk, override
from symconv.backends.cuda import catalog
from symconv.backends.cuda import elemwise as ew
from symconv.backends.cuda import nnet as rowwise
from symconv.backends.cuda import reduce as red
from symconv.backends.cuda.preamble import STORAGE
from symconv.graph import Constant, Node, Op
from symconv.ops.nnet import crossentropy_softmax_1hot, crossentropy_softmax_1hot_grad
BLOCK = 256
MAX_GRID = 65535


def lowering(*ops: Op | str, sources: Callable | None = None
             ) -> Callable[[Lowering], Lowering]:
    """Register a CuPy-backend override of ``ops`` (see backends.base.override); ``sources``
    enumerates the kernels it may compile for a node (cuda.catalog, for NVRTC checks)."""
    def register(fn: Lowering) -> Lowering:
        if sources is not None:
            fn.sources = sources   # type: ignore[attr-defined]
        return override("cuda", *ops)(fn)
    return register


def grid_for(n: int, block: int = BLOCK) -> int:
    """Blocks for a grid-stride loop over ``n`` items."""
    return max(1, min(-(-n // block), MAX_GRID))


def element_strides(array: Any, ndim: int) -> list[int]:
    """Element strides of ``array`` left-padded to ``ndim`` axes, 0 on size-1 axes."""
    pad = ndim - array.ndim
    item = array.itemsize
    return [0] * pad + [0 if n == 1 else s // item for n, s in zip(array.shape, array.strides)]


def _ints(index: str, values: list[int]) -> list[np.generic]:
    kind = np.int32 if index == "int32" else np.int64
    return [kind(v) for v in values]


class ElemwiseKernel:
    """A scalar program launched over broadcast inputs (the thunk of an elementwise node)."""

    def __init__(self, backend: Any, program: ew.ScalarProgram, node: Node) -> None:
        from symconv.backends.numpy import broadcast_check
        self.backend, self.program, self.node = backend, program, node
        self.cp = backend.xp
        self.out_dtype = np.dtype(program.dtype)
        self.ndim = node.out.ndim
        self.scalar_inputs: list[bool] = []
        self.static_scalars: dict[int, np.generic] = {}
        for i, var in enumerate(node.inputs):
            if isinstance(var, Constant) and var.data.size == 1:
                self.static_scalars[i] = ew.scalar_argument(var.dtype, var.data)
                self.scalar_inputs.append(True)
            else:
                self.scalar_inputs.append(var.ndim == 0 and backend.is_host_var(var))
        self.pointers = [i for i, s in enumerate(self.scalar_inputs) if not s]
        self.check = broadcast_check(node)
        self.plans: dict[tuple, tuple] = {}

    def __call__(self, *arrays: Any) -> Any:
        cp = self.cp
        ptrs = []
        for i in self.pointers:
            a = arrays[i]
            ptrs.append(a if isinstance(a, cp.ndarray) else cp.asarray(a))
        key = tuple((a.shape, a.strides) for a in ptrs)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._plan(ptrs, arrays)
        out_shape, kernel, grid, ints = plan
        out = cp.empty(out_shape, self.out_dtype)
        if kernel is None:
            return out
        args: list[Any] = []
        it = iter(ptrs)
        for i, scalar in enumerate(self.scalar_inputs):
            if not scalar:
                args.append(next(it))
            elif i in self.static_scalars:
                args.append(self.static_scalars[i])
            else:
                args.append(ew.scalar_argument(self.program.inputs[i], arrays[i]))
        args.append(out)
        kernel((grid,), (BLOCK,), tuple(args) + ints)
        return out

    def _plan(self, ptrs: list[Any], arrays: tuple) -> tuple:
        ndim = self.ndim
        out_shape = []
        for axis in range(ndim):
            sizes = {a.shape[axis - ndim + a.ndim] for a in ptrs if axis >= ndim - a.ndim} - {1}
            if len(sizes) > 1:
                raise ValueError(f"{self.node.op.name}: shapes "
                                 f"{' and '.join(str(a.shape) for a in ptrs)} cannot be "
                                 f"broadcast together")
            out_shape.append(sizes.pop() if sizes else 1)
        if self.check is not None:
            self.check(arrays, out_shape)
        n = math.prod(out_shape)
        if n == 0:
            return tuple(out_shape), None, 0, ()
        shape, strides = ew.collapse(out_shape, [element_strides(a, ndim) for a in ptrs])
        index = ew.index_type(shape, strides)
        name, source = ew.elemwise_source(self.program, len(shape), index, self.scalar_inputs)
        kernel = self.backend.kernel(name, source)
        ints = _ints(index, [n] + list(shape[1:]) + [s for st in strides for s in st])
        return tuple(out_shape), kernel, grid_for(n), tuple(ints)


@lowering("fused_elemwise", sources=catalog.elemwise_sources)
def elemwise_lowering(backend: Any, node: Node) -> Thunk:
    """An elementwise or fused node as one generated kernel over its scalar program (CuPy's
    own ufunc for complex dtypes)."""
    program = ew.program_of(node)
    if not ew.supported(program):
        return backend.generic_thunk(node)
    return ElemwiseKernel(backend, program, node)


class ReduceKernel:
    """sum/prod/max/min/argmax/argmin/any/all of a strided input over static axes."""

    def __init__(self, backend: Any, node: Node) -> None:
        self.backend, self.node = backend, node
        self.cp = backend.xp
        self.kind = node.op.name
        self.axis = node.kw["axis"]
        self.keepdims = node.kw["keepdims"]
        self.in_dtype = node.inputs[0].dtype
        self.out_dtype = np.dtype(node.out.dtype)
        self.plans: dict[tuple, tuple] = {}

    def __call__(self, x: Any) -> Any:
        cp = self.cp
        if not isinstance(x, cp.ndarray):
            x = cp.asarray(x)
        key = (x.shape, x.strides)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._plan(x)
        out_shape, kernel, grid, block, ints = plan
        out = cp.empty(out_shape, self.out_dtype)
        if kernel is not None:
            kernel((grid,), (block,), (x, out) + ints)
        return out

    def _plan(self, x: Any) -> tuple:
        shape = x.shape
        axis = tuple(a for a in self.axis if a < x.ndim)
        if self.keepdims:
            out_shape = tuple(1 if a in axis else n for a, n in enumerate(shape))
        else:
            out_shape = tuple(n for a, n in enumerate(shape) if a not in axis)
        strides = element_strides(x, x.ndim)
        kd, ks, rd, rs = red.split_axes(shape, strides, axis)
        n_out = math.prod(out_shape)
        n_red = math.prod(shape[a] for a in axis)
        if n_red == 0 and n_out and self.kind in ("max", "min", "argmax", "argmin"):
            raise ValueError(f"{self.kind}: zero-size reduction over axes {axis} of an input "
                             f"of shape {shape}, which has no identity")
        if n_out == 0:
            return out_shape, None, 0, 0, ()
        if not rd:      # nothing (or only size-1 axes) to reduce: one element per output
            rd, rs = (1,), (0,)
        index = ew.index_type(kd + rd, [ks + rs])
        per_block = red.use_block(n_out, n_red)
        name, source = red.reduce_source(self.kind, self.in_dtype, self.out_dtype.name,
                                         len(kd), len(rd), index, per_block)
        kernel = self.backend.kernel(name, source)
        ints = _ints(index, [n_out, n_red] + list(kd[1:]) + list(rd[1:]) + list(ks) + list(rs))
        if per_block:
            grid, block = max(1, min(n_out, MAX_GRID)), red.BLOCK
        else:
            grid, block = grid_for(n_out), BLOCK
        return out_shape, kernel, grid, block, tuple(ints)


@lowering(*red.KINDS, sources=catalog.reduction_sources)
def _reduce(backend: Any, node: Node) -> Thunk:
    dtypes = {node.inputs[0].dtype, node.out.dtype}
    if not dtypes <= set(STORAGE) or node.kw.get("dtype") not in (None, node.out.dtype):
        return backend.generic_thunk(node)
    return ReduceKernel(backend, node)


class RowwiseKernel:
    """softmax / logsoftmax over the last axis, one warp per row."""

    WARPS_PER_BLOCK = BLOCK // 32

    def __init__(self, backend: Any, node: Node) -> None:
        self.cp = backend.xp
        self.out_dtype = np.dtype(node.out.dtype)
        name, source = rowwise.rowwise_source(node.op.name, node.inputs[0].dtype,
                                              node.out.dtype)
        self.kernel = backend.kernel(name, source)

    def __call__(self, x: Any) -> Any:
        cp = self.cp
        x = cp.ascontiguousarray(x)
        out = cp.empty(x.shape, self.out_dtype)
        if x.size == 0:
            return out
        cols = x.shape[-1]
        rows = x.size // cols
        grid = max(1, min(-(-rows // self.WARPS_PER_BLOCK), MAX_GRID))
        self.kernel((grid,), (BLOCK,), (x, out, np.int64(rows), np.int64(cols)))
        return out


@lowering("softmax", "logsoftmax", sources=catalog.rowwise_sources)
def _rowwise(backend: Any, node: Node) -> Thunk:
    if node.inputs[0].dtype not in STORAGE or node.inputs[0].ndim < 1:
        return backend.generic_thunk(node)
    return RowwiseKernel(backend, node)


class XentKernel:
    """Softmax cross-entropy with integer labels, or its gradient wrt the logits: one warp per
    row over the rows that have a label (the op's contract: logits may have more rows; those
    get a zero gradient). An out-of-range label gives a NaN loss, where the generic CuPy
    kernel's fancy indexing would wrap it silently (NumPy raises)."""

    def __init__(self, backend: Any, node: Node, source: tuple[str, str]) -> None:
        self.cp = backend.xp
        self.grad = node.op is crossentropy_softmax_1hot_grad
        self.dtype = np.dtype(node.out.dtype)
        self.kernel = backend.kernel(*source)
        self.generic = backend.generic_thunk(node)

    def __call__(self, *arrays: Any) -> Any:
        cp = self.cp
        x, labels = cp.ascontiguousarray(arrays[-2]), cp.ascontiguousarray(arrays[-1])
        rows, cols = x.shape
        n = labels.shape[0]
        if n > rows:
            raise IndexError(f"{n} labels for {rows} rows of logits")
        if cols == 0:   # the generic kernel's error (a max over no classes)
            return self.generic(*arrays)
        grid = (max(1, min(-(-n // RowwiseKernel.WARPS_PER_BLOCK), MAX_GRID)),)
        shape = (np.int64(n), np.int64(cols))
        if not self.grad:
            nll = cp.empty((n,), self.dtype)
            if n:
                self.kernel(grid, (BLOCK,), (x, labels, nll) + shape)
            return nll
        g = cp.ascontiguousarray(cp.broadcast_to(cp.asarray(arrays[0], self.dtype), (n,)))
        gx = (cp.empty if n == rows else cp.zeros)(x.shape, self.dtype)
        if n:
            self.kernel(grid, (BLOCK,), (g, x, labels, gx) + shape)
        return gx


@lowering(crossentropy_softmax_1hot, crossentropy_softmax_1hot_grad, sources=catalog.xent_sources)
def _xent(backend: Any, node: Node) -> Thunk:
    sources = list(catalog.xent_sources(node))
    if not sources:
        return backend.generic_thunk(node)
    return XentKernel(backend, node, sources[0])
