"""Plan the all-reduces of a data-parallel step: bucket small ones, start each bucket early.

PyTorch DDP's two ideas as a graph pass. In a job of one rank, ``allreduce(x) -> x``.
Otherwise the independent all-reduces (no all-reduce among their ancestors) are ordered by
when backward makes their input ready (fewer ancestor nodes: earlier), grouped into buckets
of one dtype and reduction of about ``bucket_bytes``, and each bucket becomes

    t_k = allreduce_start(t_{k-1}, x1, ..., xm)   # t_{k-1} orders the starts: bucket k-1 first
    f_k = allreduce_wait(t_k, t_K)                # t_K (the last start) orders the waits
    allreduce(xi) -> allreduce_unpack(f_k, x1, ..., xm, index=i)

The scheduler orders nodes depth-first by data dependence, so the chain of tokens makes the
first start run as soon as its gradients exist and the rest of backward run while it is in
flight; every wait comes after the last start and before the first use of its gradients
(the updates). Without overlap each start is chained to the previous bucket's wait instead,
and the extra inputs are dropped (a blocking sequence, one call per bucket).
"""
from __future__ import annotations

import itertools

import numpy as np

from symconv.graph import Node, Variable, apply, rebuild, toposort_vars
from symconv.ops.collective import (STATE, allreduce, allreduce_start, allreduce_unpack,
                                    allreduce_wait, job_size)
from symconv.rewrite import register_pass

_sites = itertools.count()   # keys of the per-rank cache of collectives whose layout was checked


def _estimated_bytes(node: Node) -> int | None:
    x = node.inputs[0]
    itemsize = np.dtype(x.dtype).itemsize
    if None not in x.type.shape:
        return int(np.prod(x.type.shape, dtype=np.int64)) * itemsize
    return node.kw.get("nbytes")


def _independent(nodes: list[Node]) -> list[Node]:
    """The all-reduce nodes none of whose ancestors is an all-reduce."""
    found = []
    for node in nodes:
        if not any(v.owner is not None and v.owner.op is allreduce
                   for v in toposort_vars(node.inputs)):
            found.append(node)
    return found


def _buckets(nodes: list[Node], cap: int) -> list[list[Node]]:
    """Consecutive nodes (in ready order) of one dtype and reduction, about ``cap`` bytes
    each; a node whose size is unknown fills a bucket of its own."""
    buckets: list[list[Node]] = []
    current: list[Node] = []
    filled = 0
    for node in nodes:
        size = _estimated_bytes(node)
        size = cap if size is None else size
        same = current and (current[0].inputs[0].dtype == node.inputs[0].dtype
                            and current[0].kw["op"] == node.kw["op"])
        if current and (not same or filled + size > cap):
            buckets.append(current)
            current, filled = [], 0
        current.append(node)
        filled += size
    if current:
        buckets.append(current)
    return buckets


def _with_site(node: Node, inputs: list[Variable]) -> Variable:
    kw = node.kw
    kw["site"] = next(_sites)
    return apply(allreduce, inputs, tuple(sorted(kw.items())))


@register_pass("specialize")
def bucket_allreduce(outputs: list[Variable]) -> list[Variable]:
    """allreduce nodes -> identity (one rank), or bucketed start/wait/unpack (several)."""
    nodes = [v.owner for v in toposort_vars(outputs)
             if v.owner is not None and v.owner.op is allreduce]
    if not nodes:
        return outputs
    size = job_size()
    if size == 1:       # allreduce(x) -> x: a job of one rank
        return rebuild(outputs, lambda n, inputs: inputs[0] if n.op is allreduce else None)
    planned: dict[int, Variable] = {}
    if size is not None and (STATE.overlap or STATE.bucket_bytes > 0):
        independent = _independent(nodes)
        ancestors = {id(n): len(toposort_vars(n.inputs)) for n in independent}
        ready = sorted(independent, key=lambda n: ancestors[id(n)])   # stable on ties
        buckets = _buckets(ready, max(STATE.bucket_bytes, 1))
        ops = [bucket[0].kw["op"] for bucket in buckets]
        tokens: list[Variable] = []
        waits: list[Variable] = []
        for bucket, op in zip(buckets, ops):
            parts = [n.inputs[0] for n in bucket]   # no all-reduce above them: not rebuilt
            chain = tokens[-1:]
            if chain and not STATE.overlap:         # blocking: wait before the next start
                waits.append(allreduce_wait(chain[0], op=ops[len(waits)]))
                chain = waits[-1:]
            tokens.append(allreduce_start(*chain, *parts, op=op, chained=bool(chain),
                                          site=next(_sites)))
        for k, (token, op) in enumerate(zip(tokens, ops)):
            if k == len(waits):   # with overlap every wait comes after the last start
                after = tokens[-1:] if STATE.overlap and k < len(tokens) - 1 else []
                waits.append(allreduce_wait(token, *after, op=op))
        for bucket, flat in zip(buckets, waits):
            parts = [n.inputs[0] for n in bucket]
            for i, node in enumerate(bucket):
                planned[id(node)] = allreduce_unpack(flat, *parts, index=i)

    def rule(node: Node, inputs: list[Variable]) -> Variable | None:
        if node.op is not allreduce:
            return None
        # every other collective gets a site, where its layout is checked once
        found = planned.get(id(node))
        return found if found is not None else _with_site(node, inputs)
    return rebuild(outputs, rule)
