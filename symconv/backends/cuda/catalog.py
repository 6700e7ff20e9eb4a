"""Every CUDA source the CuPy backend may generate for a node, without a GPU (for NVRTC checks).

Run-time choices (how many axes survive collapsing, 32- or 64-bit indexing, which reduction
shape) are enumerated, so a compile check of a graph's nodes covers every kernel a GPU run of
that graph could request.
"""
from __future__ import annotations

import itertools
from typing import Iterator

from symconv.backends.cuda import conv, elemwise, nnet, pool, reduce
from symconv.backends.cuda.preamble import FLOAT_DTYPES, STORAGE
from symconv.graph import Constant, Node

Source = tuple[str, str]
INDEXES = tuple(elemwise.INDEX_TYPES)
_POOL_FWD = ("pool_2d",)
_POOL_GRAD = {"max_pool_2d_grad": ("max",),
              "average_pool_2d_grad": ("sum", "average_inc_pad", "average_exc_pad")}
_CONV = ("conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights")


def _elemwise(node: Node) -> Iterator[Source]:
    if node.op.name == "fused_elemwise":
        program = elemwise.program_for_fused(node)
    else:
        program = elemwise.program_for_node(node)
    if not elemwise.supported(program):
        return
    # by value: size-1 constants, and 0-d inputs that are host values at run time (sizes,
    # shape arithmetic), which the lowering only knows then: every combination of those
    constant = [isinstance(v, Constant) and v.data.size == 1 for v in node.inputs]
    choices = [(False, True) if v.ndim == 0 and not c else (c,)
               for v, c in zip(node.inputs, constant)]
    masks = {tuple(False for _ in node.inputs)} | set(itertools.product(*choices))
    for mask in sorted(masks):
        for ndim in range(1, max(node.out.ndim, 1) + 1):
            for index in INDEXES:
                yield elemwise.elemwise_source(program, ndim, index, mask)


def _reduction(node: Node) -> Iterator[Source]:
    x = node.inputs[0]
    if not {x.dtype, node.out.dtype} <= set(STORAGE):
        return
    axis = node.kw["axis"]
    n_red, n_kept = len(axis), x.ndim - len(axis)
    for kept in range(0, n_kept + 1):
        for red_ndim in range(1, max(n_red, 1) + 1):
            for per_block in (False, True):
                for index in INDEXES:
                    yield reduce.reduce_source(node.op.name, x.dtype, node.out.dtype, kept,
                                               red_ndim, index, per_block)


def node_sources(node: Node) -> list[Source]:
    """(kernel name, source) of every kernel the CuPy backend may compile for ``node``."""
    name = node.op.name
    out: list[Source] = []
    if name in reduce.KINDS:
        out += _reduction(node)
    elif name in ("softmax", "logsoftmax"):
        if node.inputs[0].dtype in STORAGE:
            out.append(nnet.rowwise_source(name, node.inputs[0].dtype, node.out.dtype))
    elif name in _CONV:
        if node.out.dtype in FLOAT_DTYPES:
            for index in INDEXES:
                out += [conv.im2col_source(node.out.dtype, index),
                        conv.col2im_source(node.out.dtype, index)]
    elif name in _POOL_FWD or name in _POOL_GRAD:
        dtype = node.inputs[0].dtype
        if dtype in FLOAT_DTYPES:
            for index in INDEXES:
                if name in _POOL_FWD:
                    out.append(pool.pool_source(node.kw["mode"], dtype, index))
                elif node.kw["mode"] in _POOL_GRAD[name]:
                    out.append(pool.pool_grad_source(node.kw["mode"], dtype, index))
    elif node.op.elemwise is not None or name == "fused_elemwise":
        out += _elemwise(node)
    return out


def xent_sources(x_dtype: str, label_dtype: str) -> list[Source]:
    """The fused softmax cross-entropy kernels (forward and gradient) for one dtype pair."""
    return [nnet.rowwise_source("xent", x_dtype, x_dtype, label_dtype),
            nnet.rowwise_source("xent_grad", x_dtype, x_dtype, label_dtype)]
