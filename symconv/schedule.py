"""The schedule: a pure plan of how a compiled graph runs (order, names, buffers, in-place writes).

``plan`` turns the rewritten graph into a ``Schedule`` value: the nodes in execution order,
each as a ``Step`` naming its result and arguments, the argument whose buffer receives the
result (``out=``: a dead intermediate, or a shared variable's storage for an SGD-style update
written in place) and the intermediates that die after it. Nothing is bound or generated here:
the executor binds kernels and generates code from the schedule, and ``print(schedule)``
shows it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from symconv.graph import Constant, Node, SharedVariable, Variable, toposort


def view_root(var: Variable) -> Variable:
    """The variable whose memory ``var`` may alias through view ops (itself if none)."""
    while var.owner is not None and var.owner.op.view:
        var = var.owner.inputs[0]
    return var


@dataclass(frozen=True)
class Step:
    """One node of the schedule: ``result = op(*args)``, optionally into ``args[out_arg]``."""

    node: Node
    result: str
    args: tuple[str, ...]
    out_arg: int | None = None     # whose buffer receives the result (out=)
    in_place: bool = False         # out_arg is a shared variable's storage (an update)
    free: tuple[str, ...] = ()     # intermediates nothing reads after this step

    def __str__(self) -> str:
        text = f"{self.result} = {self.node!r}({', '.join(self.args)})"
        if self.out_arg is not None:
            where = "in place into shared " if self.in_place else "into dead "
            text += f"  [{where}{self.args[self.out_arg]}]"
        if self.free:
            text += f"  [free {', '.join(self.free)}]"
        return text


@dataclass(frozen=True)
class Schedule:
    """A straight-line program: parameters, steps, and the names returned."""

    inputs: tuple[str, ...]
    shared: tuple[str, ...]
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    updates: tuple[str, ...]
    constants: tuple[tuple[str, Constant], ...]
    names: dict[int, str]          # id(variable) -> its name in the program
    check_before: int | None       # in-place operands are checked before this step runs

    def __str__(self) -> str:
        lines = [f"run({', '.join(self.inputs + self.shared)}):"]
        for n, step in enumerate(self.steps):
            if n == self.check_before:
                lines.append("       (check every in-place update's operand shapes: nothing "
                             "is written if one does not fit)")
            lines.append(f"  {n:3d}  {step}  <{step.node.out.type}>")
        lines.append(f"  return outputs ({', '.join(self.outputs)}), "
                     f"updates ({', '.join(self.updates)})")
        return "\n".join(lines)

    @property
    def nodes(self) -> list[Node]:
        return [s.node for s in self.steps]

    @property
    def inplace(self) -> dict[int, int]:
        """step index -> argument position of the shared storage it overwrites."""
        return {n: s.out_arg for n, s in enumerate(self.steps) if s.in_place}

    @property
    def reuse(self) -> dict[int, int]:
        """step index -> argument position of the dead buffer it writes into."""
        return {n: s.out_arg for n, s in enumerate(self.steps)
                if s.out_arg is not None and not s.in_place}


def plan(inputs: Sequence[Variable], shared: Sequence[SharedVariable],
         outputs: Sequence[Variable], updates: Sequence[Variable],
         accepts_out: dict[int, bool], targets: Sequence[SharedVariable] = (),
         inplace: bool = True, reuse: bool = True) -> Schedule:
    """The schedule computing ``outputs`` and ``updates`` from inputs and shared values.

    ``accepts_out[id(node)]`` says whether the kernel bound to a node can write into a given
    buffer; ``inplace``/``reuse`` allow writing updates into shared storage and results into
    dead intermediates."""
    nodes = toposort(list(outputs) + list(updates), inputs)
    ok = [accepts_out.get(id(node), False) for node in nodes]
    in_place = plan_inplace(nodes, ok, outputs, updates, targets) if inplace else {}
    if in_place:    # in-place nodes last: every node that can fail runs before any write
        order = [n for n in range(len(nodes)) if n not in in_place] + sorted(in_place)
        tail = len(nodes) - len(in_place)
        in_place = {tail + i: in_place[n] for i, n in enumerate(sorted(in_place))}
        nodes, ok = [nodes[n] for n in order], [ok[n] for n in order]
    names: dict[int, str] = {}
    for i, var in enumerate(inputs):
        names[id(var)] = f"i{i}"
    for i, var in enumerate(shared):
        names.setdefault(id(var), f"s{i}")
    for n, node in enumerate(nodes):
        names[id(node.out)] = f"v{n}"
    constants: list[tuple[str, Constant]] = []
    for var in [i for node in nodes for i in node.inputs] + list(outputs) + list(updates):
        if id(var) in names:
            continue
        if isinstance(var, Constant):
            names[id(var)] = f"c{len(constants)}"
            constants.append((names[id(var)], var))
        elif isinstance(var, SharedVariable):
            raise RuntimeError(f"shared variable {var} is not among the program's shared inputs")
        else:
            raise ValueError(
                f"the graph needs {var} ({var.type}, created at {var.trace}), which is not an "
                f"input of the function; add it to the inputs or replace it with givens")
    reused = plan_reuse(nodes, ok, outputs, updates, set(in_place)) if reuse else {}
    dead = _last_uses(nodes, outputs, updates, names)
    steps = []
    for n, node in enumerate(nodes):
        out_arg = in_place.get(n, reused.get(n))
        steps.append(Step(node, f"v{n}", tuple(names[id(i)] for i in node.inputs), out_arg,
                          n in in_place, tuple(dead.get(n, ()))))
    return Schedule(tuple(names[id(v)] for v in inputs),
                    tuple(f"s{i}" for i in range(len(shared))), tuple(steps),
                    tuple(names[id(v)] for v in outputs), tuple(names[id(v)] for v in updates),
                    tuple(constants), names, min(in_place, default=None))


def _last_uses(nodes: Sequence[Node], outputs: Sequence[Variable],
               updates: Sequence[Variable], names: dict[int, str]) -> dict[int, list[str]]:
    """step index -> names of the intermediate results nothing reads after that step."""
    keep = {id(v) for v in list(outputs) + list(updates)}
    last: dict[int, int] = {}
    for n, node in enumerate(nodes):
        for var in node.inputs:
            if var.owner is not None and id(var) not in keep:
                last[id(var)] = n
    dead: dict[int, list[str]] = {}
    for var_id, n in last.items():
        dead.setdefault(n, []).append(names[var_id])
    return {n: sorted(set(found)) for n, found in dead.items()}


def plan_inplace(nodes: Sequence[Node], accepts_out: Sequence[bool],
                 outputs: Sequence[Variable], updates: Sequence[Variable],
                 targets: Sequence[SharedVariable]) -> dict[int, int]:
    """Updates computed in place into their shared variable's storage (``W - lr * g``).

    Returns node index -> position of the shared input the node overwrites. A node qualifies
    when its kernel takes ``out=``, it reads the shared variable itself with the same dtype and
    broadcast pattern, and nothing else reads its result, while the shared storage is not
    returned, not stored by another update and not read by another in-place node. (The caller
    moves those nodes last and checks their operands' shapes before the first write, so a
    failing call leaves every shared variable as it was.)
    """
    if not targets:
        return {}
    readers: dict[int, int] = {}
    for node in nodes:
        for var in node.inputs:
            readers[id(var)] = readers.get(id(var), 0) + 1
    out_roots = {id(view_root(v)) for v in outputs}
    update_roots = [id(view_root(v)) for v in updates]
    index = {id(node.out): n for n, node in enumerate(nodes)}
    chosen: dict[int, tuple[int, SharedVariable]] = {}
    for target, value in zip(targets, updates):
        n = index.get(id(value))
        if n is None or value.type.ndim == 0 or value.dtype != target.dtype \
                or value.type.broadcastable != target.type.broadcastable:
            continue
        node = nodes[n]
        positions = [p for p, v in enumerate(node.inputs) if v is target]
        if (not positions or not accepts_out[n]
                or id(target) in out_roots or id(target) in update_roots
                or id(value) in out_roots or readers.get(id(value))
                or update_roots.count(id(value)) > 1):
            continue
        chosen[n] = (positions[0], target)
    planned = {id(t) for _, t in chosen.values()}
    for n, (_, target) in list(chosen.items()):
        others = planned - {id(target)}
        if any(id(view_root(v)) in others for v in nodes[n].inputs):
            del chosen[n]       # it would read a storage another in-place node overwrites
    return {n: pos for n, (pos, _) in chosen.items()}


def plan_reuse(nodes: Sequence[Node], accepts_out: Sequence[bool],
               outputs: Sequence[Variable], updates: Sequence[Variable],
               skip: set[int]) -> dict[int, int]:
    """node index -> input position whose buffer the node's result may overwrite.

    The input must be a result computed inside this program by an op that returns fresh
    arrays (never a function input, shared value, constant or a view of one: the result of
    a view op is excluded, and so is any buffer a view of which is read later), dead after
    this node (no later reader, not an output or update), of the output's dtype and with
    the output's broadcast pattern: with Theano's broadcast checks, equal patterns mean
    equal runtime shapes. Only kernels that take ``out=`` (raw ufuncs, fused nodes) qualify.
    """
    last_use: dict[int, int] = {}
    for n, node in enumerate(nodes):
        for var in node.inputs:
            last_use[id(view_root(var))] = n
    keep = {id(view_root(v)) for v in list(outputs) + list(updates)}
    reuse: dict[int, int] = {}
    taken: set[int] = set()
    for n, node in enumerate(nodes):
        if n in skip or not accepts_out[n]:
            continue
        out_type = node.out.type
        if out_type.ndim == 0:   # 0-d results are NumPy scalars, which out= cannot take
            continue
        for pos, var in enumerate(node.inputs):
            owner = var.owner
            if (owner is None or owner.op.view or not owner.op.fresh
                    and owner.op.elemwise is None
                    or id(var) in keep or id(var) in taken
                    or last_use.get(id(var)) != n
                    or var.type.dtype != out_type.dtype
                    or var.type.broadcastable != out_type.broadcastable
                    or sum(1 for i in node.inputs if i is var) > 1 and pos > 0):
                continue
            reuse[n] = pos
            taken.add(id(var))
            break
    return reuse
