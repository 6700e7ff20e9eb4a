"""``MonitorMode(pre_func, post_func)``: Theano's mode that calls user functions around every
node a compiled function runs (``theano.compile.MonitorMode``), and ``detect_nan``.

Each callback gets ``(i, node, fn)``: the node's position in the schedule, the node, and an
object whose ``fn.inputs`` and ``fn.outputs`` are lists of one-element lists holding the
values (Theano's storage cells). It works by wrapping the kernels the backend binds, so the
executor runs the same schedule; values are host arrays on the CPU (device arrays on a GPU).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from symconv.mode import Mode

Callback = Callable[[int, Any, Any], None]


class _Cells:
    """What a callback sees as ``fn``: ``inputs`` and ``outputs`` storage cells."""

    __slots__ = ("inputs", "outputs")

    def __init__(self, inputs: list, outputs: list) -> None:
        self.inputs, self.outputs = inputs, outputs


class _MonitoredBackend:
    """A backend whose thunks call the mode's callbacks before and after the kernel."""

    def __init__(self, base: Any, pre: Callback | None, post: Callback | None) -> None:
        self._base, self._pre, self._post = base, pre, post

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def bind(self, nodes: list) -> list:
        thunks = self._base.bind(nodes)
        return [self._wrap(i, node, thunk) for i, (node, thunk) in
                enumerate(zip(nodes, thunks))]

    def _wrap(self, i: int, node: Any, thunk: Callable) -> Callable:
        pre, post = self._pre, self._post

        def monitored(*args: Any) -> Any:
            cells = _Cells([[a] for a in args], [[None]])
            if pre is not None:
                pre(i, node, cells)
            result = thunk(*args)
            cells.outputs[0][0] = result
            if post is not None:
                post(i, node, cells)
            return result
        return monitored


class MonitorMode(Mode):
    """A mode calling ``pre_func(i, node, fn)`` before and ``post_func(i, node, fn)`` after
    each node of the compiled function runs."""

    def __init__(self, pre_func: Callback | None = None, post_func: Callback | None = None,
                 optimizer: Any = "default", linker: Any = None) -> None:
        super().__init__(linker if linker in (None, "py", "c", "c|py", "vm", "cvm") else None,
                         optimizer)
        self.pre_func, self.post_func = pre_func, post_func

    def wrap_backend(self, backend: Any) -> Any:
        """The backend ``function`` compiles with in this mode."""
        return _MonitoredBackend(backend, self.pre_func, self.post_func)

    def __repr__(self) -> str:
        return f"MonitorMode(pre_func={self.pre_func!r}, post_func={self.post_func!r})"


def detect_nan(i: int, node: Any, fn: Any) -> None:
    """A ``post_func`` printing the node, its inputs and outputs when an output has a NaN."""
    for output in fn.outputs:
        value = output[0]
        if getattr(value, "dtype", None) is not None and value.dtype.kind in "fc" \
                and bool(np.isnan(np.asarray(value)).any()):
            print("*** NaN detected ***")
            print(f"{node!r} (node {i}, created at {node.out.trace})")
            print(f"Inputs : {[cell[0] for cell in fn.inputs]}")
            print(f"Outputs: {[cell[0] for cell in fn.outputs]}")
            break
