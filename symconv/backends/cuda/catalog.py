"""Every CUDA source the CuPy backend may generate for a node, without a GPU (for NVRTC checks).

Run-time choices (how many axes survive collapsing, 32- or 64-bit indexing, which reduction
shape) are enumerated, so a compile check of a graph's nodes covers every kernel a GPU run of
that graph could request.
"""
from __future__ import annotations

import itertools
from typing import Iterator

from symconv.backends.base import OVERRIDES
from symconv.backends.cuda import conv, elemwise, nnet, pool, reduce
from symconv.backends.cuda.preamble import FLOAT_DTYPES, STORAGE
from symconv.graph import Constant, Node
from symconv.ops.nnet import crossentropy_softmax_1hot

Source = tuple[str, str]
INDEXES = tuple(elemwise.INDEX_TYPES)

# Each CuPy lowering names the enumerator of the kernels it may compile (its ``sources``, set
# by cuda.lowerings.lowering); elementwise nodes without a lowering use elemwise_sources.


def elemwise_sources(node: Node) -> Iterator[Source]:
    """Elementwise (or fused) kernels: every collapsed rank, index width and scalar mask."""
    program = elemwise.program_of(node)
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


def reduction_sources(node: Node) -> Iterator[Source]:
    """Reduction kernels: every number of kept and reduced axes, both block layouts."""
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


def rowwise_sources(node: Node) -> Iterator[Source]:
    """softmax / logsoftmax over the last axis."""
    if node.inputs[0].dtype in STORAGE:
        yield nnet.rowwise_source(node.op.name, node.inputs[0].dtype, node.out.dtype)


def conv_sources(node: Node) -> Iterator[Source]:
    """im2col and col2im of the node's dtype, both index widths."""
    if node.out.dtype in FLOAT_DTYPES:
        for index in INDEXES:
            yield conv.im2col_source(node.out.dtype, index)
            yield conv.col2im_source(node.out.dtype, index)


def pool_sources(node: Node) -> Iterator[Source]:
    """Pooling forward of the node's mode and dtype."""
    if node.inputs[0].dtype in FLOAT_DTYPES:
        for index in INDEXES:
            yield pool.pool_source(node.kw["mode"], node.inputs[0].dtype, index)


def pool_grad_sources(node: Node) -> Iterator[Source]:
    """Pooling gradient of the node's mode and dtype."""
    if node.inputs[0].dtype in FLOAT_DTYPES:
        for index in INDEXES:
            yield pool.pool_grad_source(node.kw["mode"], node.inputs[0].dtype, index)


def node_sources(node: Node) -> list[Source]:
    """(kernel name, source) of every kernel the CuPy backend may compile for ``node``."""
    from symconv.backends.cuda import cnn, lowerings  # noqa: F401  (register the lowerings)
    lowering = OVERRIDES.get("cuda", {}).get(node.op)
    sources = getattr(lowering, "sources", None)
    if sources is None and node.op.elemwise is not None:
        sources = elemwise_sources
    return list(sources(node)) if sources is not None else []


def xent_sources(node: Node) -> Iterator[Source]:
    """Softmax cross-entropy, or its gradient, of float logits (and a gradient of a dtype with
    a C type) with the node's label dtype."""
    z, labels = node.inputs[-2:]
    if z.dtype in FLOAT_DTYPES and node.inputs[0].dtype in STORAGE:
        kind = "xent" if node.op is crossentropy_softmax_1hot else "xent_grad"
        yield nnet.rowwise_source(kind, z.dtype, z.dtype, labels.dtype)
