"""Specialize phase: elementwise fusion (connected elementwise nodes -> one fused_elemwise node).

A group is a maximal set of elementwise nodes whose intermediate results are used only inside
the group: an elementwise node joins the group of its consumers when every client of its result
(over the whole compiled graph) is in that one group and the result is not a graph output.
Dimshuffles, reductions and every other op stay outside, so every fused input already has the
output's ndim.
"""
from __future__ import annotations

from symconv.graph import Node, Variable, apply, toposort_vars
from symconv.ops.fused import ScalarProgram, Step, fused_elemwise
from symconv.rewrite import register_pass


def _fusable(node: Node | None) -> bool:
    return node is not None and node.op.elemwise is not None


def _groups(order: list[Variable], outputs: list[Variable]) -> dict[int, int]:
    """id(result) -> id(the group's root result), for every elementwise node's result."""
    clients: dict[int, list[Node]] = {}
    for var in order:
        if var.owner is not None:
            for inp in var.owner.inputs:
                clients.setdefault(id(inp), []).append(var.owner)
    external = {id(o) for o in outputs}
    group: dict[int, int] = {}
    for var in reversed(order):     # consumers before producers
        if not _fusable(var.owner):
            continue
        users = clients.get(id(var), [])
        roots = {group.get(id(u.out)) for u in users}
        if id(var) not in external and len(roots) == 1 and None not in roots:
            group[id(var)] = roots.pop()
        else:
            group[id(var)] = id(var)
    return group


def _fuse(members: list[Variable], memo: dict[int, Variable]) -> Variable:
    """One fused node computing the last member from the group's external inputs."""
    inside = {id(v) for v in members}
    inputs: list[Variable] = []
    slot: dict[int, int] = {}
    for var in members:
        for inp in var.owner.inputs:
            if id(inp) not in slot and id(inp) not in inside:
                slot[id(inp)] = len(inputs)
                inputs.append(memo.get(id(inp), inp))
    steps = []
    for j, var in enumerate(members):
        args = tuple(slot[id(inp)] for inp in var.owner.inputs)
        steps.append(Step(var.owner.op.name, args, var.dtype, var.owner.params))
        slot[id(var)] = len(inputs) + j
    program = ScalarProgram(tuple(v.dtype for v in inputs), tuple(steps))
    return apply(fused_elemwise, inputs, (("program", program),))


@register_pass("specialize")
def fuse_elemwise(outputs: list[Variable]) -> list[Variable]:
    # e1(e2(x), e3(y)) -> fused{e1(e2(in0), e3(in1))}(x, y) when e2, e3 have no other client
    order = toposort_vars(outputs)
    group = _groups(order, outputs)
    members: dict[int, list[Variable]] = {}
    for var in order:
        if id(var) in group:
            members.setdefault(group[id(var)], []).append(var)
    memo: dict[int, Variable] = {}
    for var in order:
        node = var.owner
        if node is None:
            continue
        root = group.get(id(var))
        if root is not None and len(members[root]) > 1:
            if root == id(var):
                new = _fuse(members[root], memo)
                new.name, new.trace = var.name, var.trace
                memo[id(var)] = new
            continue
        inputs = [memo.get(id(i), i) for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            new = apply(node.op, inputs, node.params)
            new.name, new.trace = var.name, var.trace
            memo[id(var)] = new
    return [memo.get(id(o), o) for o in outputs]
