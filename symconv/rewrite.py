"""Rewrite engine: small local rules grouped in phases named by purpose, run to a fixpoint.

A rule is ``fn(node) -> Variable | None``: given a node whose inputs are already rewritten,
return an equivalent variable (same dtype and ndim) or None. Rules never mutate the graph:
each pass rebuilds what changed, so the user's graph is left as it was.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from symconv.graph import Constant, Node, Variable, apply, toposort_vars

Rule = Callable[[Node], "Variable | None"]
GraphPass = Callable[[list[Variable]], list[Variable]]

PHASES = ("canonicalize", "stabilize", "specialize")


@dataclass
class Phase:
    name: str
    rules: list[tuple[str, tuple[str, ...] | None, Rule]] = field(default_factory=list)
    passes: list[tuple[str, GraphPass]] = field(default_factory=list)  # whole-graph, after rules


_PHASES = {name: Phase(name) for name in PHASES}
# the optimizer levels: which phases (and which rules tagged 'fast_compile') each runs
FAST_COMPILE_RULES: set[str] = set()
# phases whose own rules all run under fast_compile too: T.grad is pure, so a gradient is only
# as stable as the compiled function makes it, and a NaN is a wrong answer, not a slow one
FAST_COMPILE_PHASES = ("stabilize",)


def register(phase: str, ops: Iterable[str] | None = None, name: str | None = None,
             fast_compile: bool = False) -> Callable[[Rule], Rule]:
    """Decorator adding a local rule to ``phase``; ``ops`` restricts it to nodes of those ops."""
    def add(fn: Rule) -> Rule:
        rule_name = name or fn.__name__
        _PHASES[phase].rules.append((rule_name, tuple(ops) if ops is not None else None, fn))
        if fast_compile:
            FAST_COMPILE_RULES.add(rule_name)
        return fn
    return add


def register_pass(phase: str, name: str | None = None) -> Callable[[GraphPass], GraphPass]:
    """Decorator adding a whole-graph pass run after ``phase``'s local rules reach a fixpoint."""
    def add(fn: GraphPass) -> GraphPass:
        _PHASES[phase].passes.append((name or fn.__name__, fn))
        return fn
    return add


def _on_error(name: str, err: Exception) -> None:
    from symconv.config import config
    if config.on_opt_error == "raise":
        raise err
    if config.on_opt_error == "warn":
        warnings.warn(f"rewrite {name} failed and was skipped: {err!r}", stacklevel=4)


def _compatible(old: Variable, new: Variable) -> bool:
    return (new.type.dtype == old.type.dtype and new.type.ndim == old.type.ndim
            and all(a is None or b is None or a == b
                    for a, b in zip(old.type.shape, new.type.shape)))


def run_rules(outputs: Sequence[Variable], rules: list[tuple[str, tuple | None, Rule]],
              pinned: Iterable[Variable] = ()
              ) -> tuple[list[Variable], bool]:
    """One bottom-up pass: rebuild nodes over rewritten inputs, merge equal ones, apply rules.
    Pinned variables keep their identity (the graph above them may still change)."""
    memo: dict[int, Variable] = {}
    pinned_ids = {id(v) for v in pinned}
    seen_nodes: dict[tuple, Variable] = {}
    seen_consts: dict[tuple, Variable] = {}
    changed = False
    done: set[int] = set(pinned_ids)   # ids of the variables this pass has already settled
    by_op: dict[str, list] = {}
    generic = [r for r in rules if r[1] is None]
    for r in rules:
        for op_name in r[1] or ():
            by_op.setdefault(op_name, []).append(r)
    for var in toposort_vars(outputs):
        if id(var) in pinned_ids:
            memo[id(var)] = var
            continue
        if var.owner is None:
            if isinstance(var, Constant):
                key = var.signature()
                first = seen_consts.setdefault(key, var)
                if first is not var:
                    changed = True
                memo[id(var)] = first
            else:
                memo[id(var)] = var
            continue
        node = var.owner
        inputs = [memo[id(i)] for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            new = apply(node.op, inputs, node.params)
            new.name, new.trace = var.name, var.trace
        else:
            new = var
        key = new.owner.key()
        merged = None if node.op.nondeterministic else seen_nodes.get(key)
        if merged is not None:     # merge: an equal computation already exists
            memo[id(var)] = merged
            changed = True
            continue
        for name, _, rule in by_op.get(node.op.name, []) + generic:
            try:
                result = rule(new.owner)
            except Exception as err:  # a broken rule is reported and skipped, never applied
                _on_error(name, err)
                continue
            if result is None or result is new:
                continue
            if not _compatible(new, result):
                _on_error(name, TypeError(f"rule {name} replaced {new} ({new.type}) by "
                                          f"{result} ({result.type})"))
                continue
            if result.name is None:
                result.name = var.name
            new, changed = result, True
            break
        if new is not var and new.owner is not node:
            # a rule's result may equal what is already there: merge it now, not next pass
            new = _intern(new, seen_nodes, seen_consts, done)
        seen_nodes.setdefault(key, new)
        memo[id(var)] = new
        done.add(id(new))
        if new is not var:
            changed = True
    return [memo[id(o)] for o in outputs], changed


def _intern(var: Variable, seen_nodes: dict, seen_consts: dict, done: set[int]) -> Variable:
    """``var`` (a rule's result) with each of its new nodes and constants replaced by an equal
    one the pass has already seen, bottom-up; settled variables are left as they are."""
    if id(var) in done:
        return var
    if var.owner is None:
        if isinstance(var, Constant):
            return seen_consts.setdefault(var.signature(), var)
        return var
    node = var.owner
    inputs = [_intern(i, seen_nodes, seen_consts, done) for i in node.inputs]
    if any(a is not b for a, b in zip(inputs, node.inputs)):
        rebuilt = apply(node.op, inputs, node.params)
        rebuilt.name, rebuilt.trace = var.name, var.trace
        var = rebuilt
    if node.op.nondeterministic:
        return var
    found = seen_nodes.setdefault(var.owner.key(), var)
    done.add(id(found))
    return found


def rewrite_graph(outputs: Sequence[Variable], optimizer: str = "fast_run",
                  max_passes: int = 20,
                  phases: Sequence[str] = PHASES, pinned: Iterable[Variable] = ()
                  ) -> list[Variable]:
    """The outputs' graph after the phases the optimizer level enables (``phases`` limits
    them; ``pinned`` variables are kept as they are, e.g. the ``wrt`` of a gradient)."""
    from symconv import rewrites  # noqa: F401  (registers the rules)
    pinned = list(pinned)
    outputs = list(outputs)
    if optimizer in ("None", None):
        return outputs
    for phase in (_PHASES[name] for name in phases):
        rules = phase.rules
        if rules and phase.name != "canonicalize":
            # keep the graph canonical: what a later phase builds is canonicalized in its fixpoint
            rules = rules + _PHASES["canonicalize"].rules
        if optimizer == "fast_compile":
            own = {id(r) for r in phase.rules} if phase.name in FAST_COMPILE_PHASES else set()
            rules = [r for r in rules if r[0] in FAST_COMPILE_RULES or id(r) in own]
        for _ in range(max_passes if rules else 0):   # merge is done once rules are
            outputs, changed = run_rules(outputs, rules, pinned)
            if not changed:
                break
        if optimizer != "fast_compile":
            outputs = _run_passes(phase, outputs)
        _check_phase(phase.name, outputs)
    return outputs


def _check_phase(phase: str, outputs: Sequence[Variable]) -> None:
    """With flag check_rewrites: every node's type must be what its op infers from its inputs."""
    from symconv.config import config
    if not config.check_rewrites:
        return
    for var in toposort_vars(outputs):
        if var.owner is None:
            continue
        node = var.owner
        inferred = node.op.out_type(node.inputs, node.params)
        if inferred != var.type:
            raise TypeError(f"check_rewrites: after phase {phase}, {node!r} has type {var.type} "
                            f"but its op infers {inferred} (created at {var.trace})")


def _run_passes(phase: Phase, outputs: list[Variable]) -> list[Variable]:
    for name, graph_pass in phase.passes:
        try:
            new_outputs = graph_pass(outputs)
        except Exception as err:
            _on_error(name, err)
            continue
        if all(_compatible(a, b) for a, b in zip(outputs, new_outputs)):
            outputs = list(new_outputs)
        else:
            _on_error(name, TypeError(f"pass {name} changed the outputs' types"))
    return outputs
