"""Theano's extras on a compiled Function: ``copy(swap, delete_updates)`` and ``maker.fgraph``.
(a read-only view of the compiled graph)."""
from __future__ import annotations

from typing import Any

from symconv.graph import SharedVariable, clone_replace
from symconv.io import Out


def _pairs(updates: Any) -> list:
    if updates is None:
        return []
    return list(updates.items()) if hasattr(updates, "items") else list(updates)


def _unwrap(outputs: Any) -> Any:
    """``outputs`` (one, a list or a dict) with ``Out`` wrappers replaced by their variables."""
    def plain(o: Any) -> Any:
        return o.variable if isinstance(o, Out) else o
    if isinstance(outputs, dict):
        return {k: plain(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [plain(o) for o in outputs]
    return plain(outputs)


def copy_function(fn: Any, share_memory: bool = False, swap: dict | None = None,
                  delete_updates: bool = False, name: str | None = None,
                  profile: Any = None) -> Any:
    """A new Function computing what ``fn`` computes; ``swap`` maps shared variables of ``fn``
    to others of the same type (used by its outputs and as update targets alike)."""
    from symconv.compile import function
    spec = dict(fn._spec)
    swap = dict(swap or {})
    for old, new in swap.items():
        if not isinstance(old, SharedVariable) or not isinstance(new, SharedVariable):
            raise TypeError(f"Function.copy: swap maps shared variables to shared variables, "
                            f"got {old!r} -> {new!r}")
        if old.type != new.type:
            raise TypeError(f"Function.copy: cannot swap {old} ({old.type}) for {new} "
                            f"({new.type}): the types differ")
    updates = [] if delete_updates else _pairs(spec.get("updates"))
    if delete_updates:   # inputs used only by the updates stay arguments, as in Theano
        spec["on_unused_input"] = "ignore"
    if swap:   # Out() wrappers are dropped: a call returns arrays the caller owns anyway
        outputs = _unwrap(spec.get("outputs"))
        if isinstance(outputs, dict):
            keys = list(outputs)
            outputs = dict(zip(keys, clone_replace([outputs[k] for k in keys], swap)))
        elif isinstance(outputs, (list, tuple)):
            outputs = clone_replace(list(outputs), swap)
        elif outputs is not None:
            outputs = clone_replace([outputs], swap)[0]
        spec["outputs"] = outputs
        exprs = clone_replace([e for _, e in updates], swap) if updates else []
        updates = [(swap.get(t, t), e) for (t, _), e in zip(updates, exprs)]
    spec["updates"] = updates or None
    outputs = spec.get("outputs")
    if outputs is not None and not isinstance(outputs, (list, tuple, dict)):
        spec["outputs"] = [outputs]   # as Theano: a copy returns a list even of one output
    if name is not None:
        spec["name"] = name
    if profile is not None:
        spec["profile"] = profile
    return function(**spec)


class FunctionGraphView:
    """A read-only view of a compiled function's rewritten graph (Theano's ``f.maker.fgraph``):
    ``inputs``, ``outputs`` (the outputs, then the update values) and ``toposort()``."""

    def __init__(self, program: Any) -> None:
        self.inputs = list(program.inputs) + list(program.shared)
        self.outputs = list(program.outputs) + list(program.updates)

    def toposort(self) -> list:
        from symconv.graph import toposort
        return toposort(self.outputs)

    @property
    def apply_nodes(self) -> set:
        return set(self.toposort())

    @property
    def variables(self) -> set:
        from symconv.graph import toposort_vars
        return set(toposort_vars(self.outputs))


class FunctionMaker:
    """``f.maker``: what made the function; ``f.maker.fgraph`` is its graph (read-only)."""

    def __init__(self, fn: Any) -> None:
        self.fgraph = FunctionGraphView(fn.program)
        self.inputs = [spec.var for spec in fn._inputs]
        self.mode = fn._spec.get("mode")
