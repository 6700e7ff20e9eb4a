"""``Function.copy``: the same function recompiled, with shared variables swapped or without
its updates (Theano's ``copy(share_memory, swap, delete_updates, name)``)."""
from __future__ import annotations

from typing import Any

from symconv.graph import SharedVariable, clone_replace


def _pairs(updates: Any) -> list:
    if updates is None:
        return []
    return list(updates.items()) if hasattr(updates, "items") else list(updates)


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
    if swap:
        outputs = spec.get("outputs")
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
    if name is not None:
        spec["name"] = name
    if profile is not None:
        spec["profile"] = profile
    return function(**spec)
