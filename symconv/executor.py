"""The executor: a planned schedule bound to kernels and generated as straight-line Python.

Each node is bound to its backend thunk, the schedule (symconv.schedule) is emitted as one
generated function of local variables (``v3 = k3(v1, v2)  # tanh``), so a call does no
planning and no dict lookups. Instrumented variants (profiling, type checks, NaN guard) are
generated the same way.
"""
from __future__ import annotations

import linecache
import time
from typing import Any, Callable, Sequence

import numpy as np

from symconv.graph import Node, SharedVariable, Variable, toposort
from symconv.schedule import Schedule, plan, view_root  # noqa: F401  (view_root: public here)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def _first_nonfinite_step(node: Node, operands: tuple, xp: Any) -> str:
    """For a fused node: the part of its scalar program up to the step that first made a NaN
    or Inf (the program's interpreter replays it on the same operands)."""
    if node.op.name != "fused_elemwise":
        return ""
    steps = node.kw["program"].first_nonfinite(xp, operands)
    return f" (first in its step {steps!r})" if steps is not None else ""


class Program:
    """Straight-line code computing ``outputs`` and ``updates`` from inputs and shared values.

    Three separate steps: bind every node to its backend kernel, ``plan`` the ``Schedule``
    (order, names, buffer reuse, in-place updates; see symconv.schedule), then generate and
    compile the Python function that runs the schedule."""

    def __init__(self, inputs: Sequence[Variable], shared: Sequence[SharedVariable],
                 outputs: Sequence[Variable], updates: Sequence[Variable], backend: Any,
                 instrument: str | None = None,
                 targets: Sequence[SharedVariable] | None = None) -> None:
        self.inputs, self.shared = list(inputs), list(shared)
        self.outputs, self.updates = list(outputs), list(updates)
        self.backend = backend
        self.instrument = instrument
        order = toposort(self.outputs + self.updates, self.inputs)
        bound = {id(node): thunk for node, thunk in zip(order, backend.bind(order))}
        accepts = {key: isinstance(thunk, np.ufunc) or getattr(thunk, "accepts_out", False)
                   for key, thunk in bound.items()}
        self.schedule: Schedule = plan(
            self.inputs, self.shared, self.outputs, self.updates, accepts, targets or [],
            inplace=backend.is_host and not instrument, reuse=backend.is_host)
        self.nodes: list[Node] = self.schedule.nodes
        self.thunks: list[Callable] = [bound[id(node)] for node in self.nodes]
        self.names: dict[int, str] = self.schedule.names
        self.inplace: dict[int, int] = self.schedule.inplace
        self.reuse: dict[int, int] = self.schedule.reuse
        self.env: dict[str, Any] = {name: backend.to_device(c.data)
                                    for name, c in self.schedule.constants}
        self.line_of_node: dict[int, int] = {}
        self.node_time = [0.0] * len(self.nodes)
        self.node_calls = [0] * len(self.nodes)
        self.node_shapes: list[tuple | None] = [None] * len(self.nodes)   # last seen, profiling
        self.source = self._generate()
        namespace: dict[str, Any] = dict(self.env)
        for n, thunk in enumerate(self.thunks):
            namespace[f"k{n}"] = thunk
        filename = f"<symconv program {id(self):x}>"
        code = compile(self.source, filename, "exec")
        # NumPy warnings raised by a kernel point at this program's line; with the source in
        # linecache the warning shows that line, which names the op and the user's line
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True),
                                     filename)
        exec(code, namespace)
        self.run: Callable = namespace["run"]
        self.code = namespace["run"].__code__

    def _generate(self) -> str:
        """The schedule as Python source: one line per step, commented with its op."""
        schedule = self.schedule
        lines = [f"def run({', '.join(schedule.inputs + schedule.shared)}):"]
        for n, step in enumerate(schedule.steps):
            if n == schedule.check_before:   # nothing may fail once shared storage changes
                self.env["_fits"] = self._inplace_check()
                groups = ["(" + ", ".join(self.schedule.steps[m].args) + ",)"
                          for m in sorted(self.inplace)]
                lines.append(f"    _fits({', '.join(groups)})")
            args = list(step.args)
            if step.out_arg is not None:   # a dead buffer, or shared storage, gets the result
                args.append(f"out={step.args[step.out_arg]}")
            call = f"k{n}({', '.join(args)})"
            self.line_of_node[len(lines) + 1] = n
            operands = ", ".join(step.args)
            result = step.result
            if self.instrument == "profile":
                line = (f"_t = _clock(); {result} = {call}; _after({n}, {result}, _t, "
                        f"({operands}{',' if operands else ''}))")
            elif self.instrument == "nanguard":
                line = f"{result} = {call}; _after({n}, {result}, ({operands},))"
            elif self.instrument:
                line = f"{result} = {call}; _after({n}, {result})"
            else:
                line = f"{result} = {call}"
            lines.append(f"    {line}  # {step.node.op.name}, created at {step.node.out.trace}")
            if step.free:   # free intermediates at their last use: lower peak memory
                lines.append(f"    del {', '.join(step.free)}")
        outs, ups = ", ".join(schedule.outputs), ", ".join(schedule.updates)
        lines.append(f"    return ({outs}{',' if outs else ''}), ({ups}{',' if ups else ''})")
        if self.instrument:
            self.env["_after"] = self._after_hook()
            self.env["_clock"] = time.perf_counter
        return "\n".join(lines) + "\n"

    def _inplace_check(self) -> Callable:
        """A function that raises unless every in-place node's operands fit its shared value."""
        specs = []
        for n in sorted(self.inplace):
            node, pos = self.nodes[n], self.inplace[n]
            specs.append((pos, node.inputs[pos].name or "a shared variable",
                          [tuple(t.type.broadcastable) for t in node.inputs]))

        def fits(*groups: tuple) -> None:
            for (pos, name, patterns), arrays in zip(specs, groups):
                shape = arrays[pos].shape
                for array, pattern in zip(arrays, patterns):
                    got = getattr(array, "shape", ())
                    if len(got) != len(shape) or any(
                            g != s and not (g == 1 and b) for g, s, b in zip(got, shape, pattern)):
                        raise ValueError(
                            f"the update of {name} (shape {shape}) has an operand of shape "
                            f"{got}; nothing was updated")
        return fits

    def _after_hook(self) -> Callable:
        nodes, backend = self.nodes, self.backend
        if self.instrument == "profile":
            times, calls, clock = self.node_time, self.node_calls, time.perf_counter
            shapes = self.node_shapes

            def after(n: int, value: Any, t0: float, operands: tuple) -> None:
                times[n] += clock() - t0      # read first: the shapes below are not timed
                calls[n] += 1
                shapes[n] = (tuple(_shape(a) for a in operands), _shape(value))
            return after
        if self.instrument == "nanguard":
            def after(n: int, value: Any, operands: tuple) -> None:
                xp = backend.xp
                if hasattr(value, "getnnz"):   # a SciPy sparse matrix: check its entries
                    value = value.data
                if value.dtype.kind in "fc" and not bool(xp.isfinite(value).all()):
                    node = nodes[n]
                    what = "NaN" if bool(xp.isnan(value).any()) else "Inf"
                    shapes = [tuple(getattr(a, "shape", ())) for a in operands]
                    raise FloatingPointError(
                        f"NanGuardMode: {node.op.name} produced {what}"
                        f"{_first_nonfinite_step(node, operands, xp)}; node {node!r}, input "
                        f"shapes {shapes}, input types {[str(i.type) for i in node.inputs]}, "
                        f"created at {node.out.trace}")
            return after

        def after(n: int, value: Any) -> None:   # "check": results must match inferred types
            node = nodes[n]
            want = node.out.type
            got_dtype = np.dtype(value.dtype).name
            problem = None
            if got_dtype != want.dtype:
                problem = f"dtype {got_dtype}, expected {want.dtype}"
            elif value.ndim != want.ndim or any(
                    s is not None and s != g for s, g in zip(want.shape, value.shape)):
                problem = f"shape {tuple(value.shape)}, expected {want}"
            if problem:
                raise TypeError(f"check_types: {node!r} returned a value of {problem} "
                                f"(created at {node.out.trace})")
        return after

    def failing_node(self, exc: BaseException) -> tuple[Node, list[Any]] | None:
        """The node whose kernel raised ``exc`` and its input values, if it was one."""
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is self.code:
                n = self.line_of_node.get(tb.tb_lineno)
                if n is None:
                    return None
                frame_locals = tb.tb_frame.f_locals
                env = {**self.env, **frame_locals}
                node = self.nodes[n]
                return node, [env.get(self.names[id(i)]) for i in node.inputs]
            tb = tb.tb_next
        return None

    def describe_error(self, exc: BaseException) -> BaseException | None:
        """``exc`` re-worded to name the failing op, its input shapes and the user's line."""
        found = self.failing_node(exc)
        if found is None:
            return None
        node, values = found
        if isinstance(exc, ValueError) and (node.op.elemwise is not None
                                            or node.op.name == "fused_elemwise"):
            from symconv.backends.numpy import broadcast_error
            clearer = broadcast_error(node, values)
            if clearer is not None:
                exc = ValueError(clearer)
        shapes = ", ".join(f"{tuple(v.shape)} {v.dtype}" if hasattr(v, "shape") else repr(v)
                           for v in values)
        message = (f"{exc}\nApply node that caused the error: {node!r}\n"
                   f"Inputs shapes and dtypes: {shapes}\n"
                   f"Inputs types: {[str(i.type) for i in node.inputs]}\n"
                   f"The node was created at: {node.out.trace}")
        try:
            new = type(exc)(message)
        except Exception:
            new = RuntimeError(message)
        return new

    def profile_rows(self) -> list[tuple[float, int, Node]]:
        return [(t, c, node) for t, c, node in zip(self.node_time, self.node_calls, self.nodes)]
