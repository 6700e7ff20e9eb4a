"""The backend interface: array module, host/device transfers and per-node kernel binding."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from symconv.graph import Node

Thunk = Callable[..., Any]


class Backend:
    """Binds each node to a callable over arrays. Subclasses set ``xp`` and add overrides:
    ``lowerings[op name](backend, node) -> thunk`` replaces the op's generic kernel."""

    name = "base"
    xp: Any = np
    is_host = True
    lowerings: dict[str, Callable[["Backend", Node], Thunk]] = {}
    # names of every op in the program being lowered: a lowering may adapt to its neighbours
    program_ops: frozenset[str] = frozenset()

    def bind(self, nodes: list[Node]) -> list[Thunk]:
        """Thunks for a whole schedule (lowerings see which ops share the program)."""
        self.program_ops = frozenset(node.op.name for node in nodes)
        try:
            return [self.thunk(node) for node in nodes]
        finally:
            self.program_ops = frozenset()

    def to_device(self, array: np.ndarray) -> Any:
        return array

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def is_device_array(self, value: Any) -> bool:
        return False

    def thunk(self, node: Node) -> Thunk:
        """The callable computing ``node``'s result from its inputs' arrays."""
        lowering = self.lowerings.get(node.op.name)
        if lowering is not None:
            return lowering(self, node)
        return self.generic_thunk(node)

    def generic_thunk(self, node: Node) -> Thunk:
        """The op's kernel bound to this backend's array module and the node's parameters."""
        params = node.kw
        return partial(node.op.kernel, self.xp, **params) if params else \
            partial(node.op.kernel, self.xp)
