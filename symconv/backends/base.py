"""The backend interface: array module, host/device transfers and per-node kernel binding."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from symconv.graph import Node, Op, get_op

Thunk = Callable[..., Any]
Lowering = Callable[["Backend", Node], Thunk]

# The one registry of backend overrides: backend kind ('cpu', 'cuda') -> {op: lowering}, where
# ``lowering(backend, node) -> thunk`` replaces the op's generic kernel for that node.
OVERRIDES: dict[str, dict[Op, Lowering]] = {}


def override(kind: str, *ops: Op | str) -> Callable[[Lowering], Lowering]:
    """Decorator registering a lowering of ``ops`` (records or their names) for ``kind``."""
    def register(fn: Lowering) -> Lowering:
        table = OVERRIDES.setdefault(kind, {})
        for op in ops:
            table[get_op(op) if isinstance(op, str) else op] = fn
        return fn
    return register


class Backend:
    """Binds each node to a callable over arrays. Subclasses set ``xp`` and ``kind``; their
    overrides are the lowerings registered for ``kind`` with ``override``."""

    name = "base"
    kind = "base"
    xp: Any = np
    is_host = True
    # every op in the program being lowered: a lowering may adapt to its neighbours
    program_ops: frozenset[Op] = frozenset()

    def bind(self, nodes: list[Node]) -> list[Thunk]:
        """Thunks for a whole schedule (lowerings see which ops share the program)."""
        self.program_ops = frozenset(node.op for node in nodes)
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

    @property
    def lowerings(self) -> dict[Op, Lowering]:
        """This backend's overrides, keyed by op."""
        return OVERRIDES.get(self.kind, {})

    def thunk(self, node: Node) -> Thunk:
        """The callable computing ``node``'s result from its inputs' arrays: the backend's
        override for the op, else its elementwise code generator, else the op's kernel."""
        lowering = self.lowerings.get(node.op)
        if lowering is not None:
            return lowering(self, node)
        if node.op.elemwise is not None:
            return self.elemwise_thunk(node)
        return self.generic_thunk(node)

    def elemwise_thunk(self, node: Node) -> Thunk:
        """An elementwise node's thunk (backends with a code generator override this)."""
        return self.generic_thunk(node)

    def generic_thunk(self, node: Node) -> Thunk:
        """The op's kernel bound to this backend's array module and the node's parameters."""
        params = node.kw
        return partial(node.op.kernel, self.xp, **params) if params else \
            partial(node.op.kernel, self.xp)
