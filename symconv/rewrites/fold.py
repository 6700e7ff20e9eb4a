"""Canonicalize rules that fold small nodes away at compile time (fewer nodes per call).

The gradient walker sums a broadcast bias gradient with ``keepdims=True`` and then drops the
kept axes with a dimshuffle; the mean's gradient negates a vector only to sum it. Each such
node costs a dispatch per call and a temporary, for nothing.
"""
from __future__ import annotations

from symconv.graph import Node, Variable, apply
from symconv.rewrite import register

# reductions whose parameters are (axis, keepdims[, dtype]) and whose keepdims=True result is
# the keepdims=False one with size-1 axes at ``axis``
_REDUCTIONS = ("sum", "prod", "max", "min", "any", "all")


@register("canonicalize", ops=["dimshuffle"])
def drop_kept_reduced_axes(node: Node) -> Variable | None:
    # dimshuffle(r(x, axis, keepdims=True), the other axes in order) -> r(x, axis)
    reduced = node.inputs[0].owner
    if reduced is None or reduced.op.name not in _REDUCTIONS:
        return None
    params = reduced.kw
    axis = params["axis"]
    if not params["keepdims"]:
        return None
    if node.kw["pattern"] != tuple(a for a in range(reduced.out.ndim) if a not in axis):
        return None
    flat = tuple((k, False if k == "keepdims" else v) for k, v in reduced.params)
    result = apply(reduced.op, reduced.inputs, flat)
    return result if result.type == node.out.type else None


@register("canonicalize", ops=["sum"])
def sum_of_negation(node: Node) -> Variable | None:
    # sum(-x) -> -sum(x) for floats: negation is exact and rounding is symmetric, so the two
    # are equal bit for bit; the neg then runs on the reduced size and can fuse with the sum's
    # elementwise consumer
    from symconv.ops.elemwise import neg
    inner = node.inputs[0].owner
    if inner is None or inner.op is not neg or node.out.dtype[0] != "f" \
            or inner.out.dtype[0] != "f" or inner.inputs[0].dtype != inner.out.dtype:
        return None
    return neg(apply(node.op, inner.inputs, node.params))


@register("canonicalize", ops=["neg"])
def negation_before_broadcast(node: Node) -> Variable | None:
    # neg(dimshuffle(x, pattern)) -> dimshuffle(neg(x), pattern) when the dimshuffle only adds
    # broadcast axes: the neg runs on the smaller value and fuses with x's elementwise producer
    from symconv.ops.elemwise import neg
    inner = node.inputs[0].owner
    if inner is None or inner.op.name != "dimshuffle":
        return None
    kept = [a for a in inner.kw["pattern"] if a != "x"]
    if kept != list(range(inner.inputs[0].ndim)):
        return None
    result = apply(inner.op, [neg(inner.inputs[0])], inner.params)
    return result if result.type == node.out.type else None
