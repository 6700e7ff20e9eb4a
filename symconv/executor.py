"""The schedule: a graph lowered once to straight-line Python over bound kernels.

The nodes are ordered, each bound to its backend thunk, and emitted as one generated
function of local variables (``v3 = k3(v1, v2)``), so a call does no planning and no dict
lookups. Instrumented variants (profiling, type checks, NaN guard) are generated the same way.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from symconv.graph import Constant, Node, SharedVariable, Variable, toposort


# ops whose results are freshly allocated arrays owned by the program (safe to overwrite)
_FRESH = frozenset({"fused_elemwise", "dot"})


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def _first_nonfinite_step(node: Node, operands: tuple, xp: Any) -> str:
    """For a fused node: which instruction of its program first made a NaN or Inf."""
    if node.op.name != "fused_elemwise":
        return ""
    from symconv.graph import get_op
    from symconv.ops.fused import FusedProgram
    program = node.kw["program"]
    temps: list[Any] = []
    for j, (name, args, dtype, params) in enumerate(program):
        values = [operands[k] if kind == "in" else temps[k] for kind, k in args]
        temps.append(xp.asarray(get_op(name).kernel(xp, *values, **dict(params))))
        if temps[-1].dtype.kind in "fc" and not bool(xp.isfinite(temps[-1]).all()):
            return f" (first in its step {FusedProgram(program[:j + 1])!r})"
    return ""


def view_root(var: Variable) -> Variable:
    """The variable whose memory ``var`` may alias through view ops (itself if none)."""
    while var.owner is not None and var.owner.op.view:
        var = var.owner.inputs[0]
    return var


class Program:
    """Straight-line code computing ``outputs`` and ``updates`` from inputs and shared values."""

    def __init__(self, inputs: Sequence[Variable], shared: Sequence[SharedVariable],
                 outputs: Sequence[Variable], updates: Sequence[Variable], backend: Any,
                 instrument: str | None = None,
                 targets: Sequence[SharedVariable] | None = None) -> None:
        self.inputs, self.shared = list(inputs), list(shared)
        self.outputs, self.updates = list(outputs), list(updates)
        self.backend = backend
        self.instrument = instrument
        self.nodes: list[Node] = toposort(self.outputs + self.updates, self.inputs)
        self.names: dict[int, str] = {}
        self.env: dict[str, Any] = {}
        for i, var in enumerate(self.inputs):
            self.names[id(var)] = f"i{i}"
        for i, var in enumerate(self.shared):
            self.names.setdefault(id(var), f"s{i}")
        self.thunks: list[Callable] = backend.bind(self.nodes)
        self.inplace = self._plan_inplace(targets or [])
        for n, node in enumerate(self.nodes):
            self.names[id(node.out)] = f"v{n}"
        for node in self.nodes:
            for var in node.inputs:
                self._name_leaf(var)
        for var in self.outputs + self.updates:
            self._name_leaf(var)
        self.reuse: dict[int, int] = self._plan_reuse() if backend.is_host else {}
        self.line_of_node: dict[int, int] = {}
        self.node_time = [0.0] * len(self.nodes)
        self.node_calls = [0] * len(self.nodes)
        self.node_shapes: list[tuple | None] = [None] * len(self.nodes)   # last seen, profiling
        self.source = self._generate()
        namespace: dict[str, Any] = dict(self.env)
        for n, thunk in enumerate(self.thunks):
            namespace[f"k{n}"] = thunk
        code = compile(self.source, f"<symconv program {id(self):x}>", "exec")
        exec(code, namespace)
        self.run: Callable = namespace["run"]
        self.code = namespace["run"].__code__

    def _name_leaf(self, var: Variable) -> None:
        if id(var) in self.names:
            return
        if isinstance(var, Constant):
            name = f"c{len([k for k in self.env if k.startswith('c')])}"
            self.env[name] = self.backend.to_device(var.data)
            self.names[id(var)] = name
            return
        if isinstance(var, SharedVariable):
            raise RuntimeError(f"shared variable {var} is not among the program's shared inputs")
        raise ValueError(
            f"the graph needs {var} ({var.type}, created at {var.trace}), which is not an input "
            f"of the function; add it to the inputs or replace it with givens")

    def _generate(self) -> str:
        args = [self.names[id(v)] for v in self.inputs] + \
            [f"s{i}" for i in range(len(self.shared))]
        lines = [f"def run({', '.join(args)}):"]
        first_inplace = min(self.inplace, default=None)
        dead_after = self._last_uses()
        for n, node in enumerate(self.nodes):
            args = [self.names[id(i)] for i in node.inputs]
            if n == first_inplace:   # nothing may fail once shared storage starts changing
                self.env["_fits"] = self._inplace_check()
                groups = ["(" + ", ".join(self.names[id(i)] for i in self.nodes[m].inputs) + ",)"
                          for m in sorted(self.inplace)]
                lines.append(f"    _fits({', '.join(groups)})")
            if n in self.reuse:   # a dead input buffer receives the result (see _plan_reuse)
                args.append(f"out={args[self.reuse[n]]}")
            elif n in self.inplace:   # an SGD-style update written into the shared storage
                args.append(f"out={args[self.inplace[n]]}")
            call = f"k{n}({', '.join(args)})"
            self.line_of_node[len(lines) + 1] = n
            operands = ", ".join(self.names[id(i)] for i in node.inputs)
            if self.instrument == "profile":
                lines.append(f"    _t = _clock(); v{n} = {call}; _after({n}, v{n}, _t, "
                             f"({operands}{',' if operands else ''}))")
            elif self.instrument == "nanguard":
                lines.append(f"    v{n} = {call}; _after({n}, v{n}, ({operands},))")
            elif self.instrument:
                lines.append(f"    v{n} = {call}; _after({n}, v{n})")
            else:
                lines.append(f"    v{n} = {call}")
            if dead_after.get(n):   # free intermediates at their last use: lower peak memory
                lines.append(f"    del {', '.join(dead_after[n])}")
        outs = ", ".join(self.names[id(v)] for v in self.outputs)
        ups = ", ".join(self.names[id(v)] for v in self.updates)
        lines.append(f"    return ({outs}{',' if outs else ''}), ({ups}{',' if ups else ''})")
        if self.instrument:
            self.env["_after"] = self._after_hook()
            self.env["_clock"] = time.perf_counter
        return "\n".join(lines) + "\n"

    def _last_uses(self) -> dict[int, list[str]]:
        """node index -> names of the intermediate results nothing reads after that node."""
        keep = {id(v) for v in self.outputs + self.updates}
        last: dict[int, int] = {}
        for n, node in enumerate(self.nodes):
            for var in node.inputs:
                if var.owner is not None and id(var) not in keep:
                    last[id(var)] = n
        dead: dict[int, list[str]] = {}
        for var_id, n in last.items():
            dead.setdefault(n, []).append(self.names[var_id])
        return {n: sorted(set(names)) for n, names in dead.items()}

    def _plan_inplace(self, targets: Sequence[SharedVariable]) -> dict[int, int]:
        """Updates computed in place into their shared variable's storage (``W - lr * g``).

        Returns node index -> position of the shared input the node overwrites, after moving
        those nodes to the end of the schedule: every other node (all that can fail) runs
        first, and ``_fits`` checks every in-place operand's shape before the first write, so
        a failing call still leaves every shared variable as it was. A node qualifies when its
        thunk takes ``out=``, it reads the shared variable itself with the same dtype and
        broadcast pattern, and nothing else reads its result, while the shared storage is not
        returned, not stored by another update and not read by another in-place node.
        """
        if not self.backend.is_host or self.instrument or not targets:
            return {}
        readers: dict[int, int] = {}
        for node in self.nodes:
            for var in node.inputs:
                readers[id(var)] = readers.get(id(var), 0) + 1
        out_roots = {id(view_root(v)) for v in self.outputs}
        update_roots = [id(view_root(v)) for v in self.updates]
        index = {id(node.out): n for n, node in enumerate(self.nodes)}
        plan: dict[int, tuple[int, SharedVariable]] = {}
        for target, value in zip(targets, self.updates):
            n = index.get(id(value))
            if n is None or value.type.ndim == 0 or value.dtype != target.dtype \
                    or value.type.broadcastable != target.type.broadcastable:
                continue
            thunk, node = self.thunks[n], self.nodes[n]
            positions = [p for p, v in enumerate(node.inputs) if v is target]
            if (not positions or not (isinstance(thunk, np.ufunc)
                                      or getattr(thunk, "accepts_out", False))
                    or id(target) in out_roots or id(target) in update_roots
                    or id(value) in out_roots or readers.get(id(value))
                    or update_roots.count(id(value)) > 1):
                continue
            plan[n] = (positions[0], target)
        targets_planned = {id(t) for _, t in plan.values()}
        for n, (_, target) in list(plan.items()):
            others = targets_planned - {id(target)}
            if any(id(view_root(v)) in others for v in self.nodes[n].inputs):
                del plan[n]       # it would read a storage another in-place node overwrites
        if not plan:
            return {}
        order = [n for n in range(len(self.nodes)) if n not in plan] + sorted(plan)
        self.nodes = [self.nodes[n] for n in order]
        self.thunks = [self.thunks[n] for n in order]
        tail = len(self.nodes) - len(plan)
        return {tail + i: plan[n][0] for i, n in enumerate(sorted(plan))}

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

    def _plan_reuse(self) -> dict[int, int]:
        """node index -> input position whose buffer the node's result may overwrite.

        The input must be a result computed inside this program by an op that returns fresh
        arrays (never a function input, shared value, constant or a view of one: the result of
        a view op is excluded, and so is any buffer a view of which is read later), dead after
        this node (no later reader, not an output or update), of the output's dtype and with
        the output's broadcast pattern: with Theano's broadcast checks, equal patterns mean
        equal runtime shapes. Only thunks that take ``out=`` (raw ufuncs, fused nodes) qualify.
        """
        last_use: dict[int, int] = {}
        for n, node in enumerate(self.nodes):
            for var in node.inputs:
                last_use[id(view_root(var))] = n
        keep = {id(view_root(v)) for v in self.outputs + self.updates}
        reuse: dict[int, int] = {}
        taken: set[int] = set()
        for n, (node, thunk) in enumerate(zip(self.nodes, self.thunks)):
            if n in self.inplace or not (isinstance(thunk, np.ufunc)
                                         or getattr(thunk, "accepts_out", False)):
                continue
            out_type = node.out.type
            if out_type.ndim == 0:   # 0-d results are NumPy scalars, which out= cannot take
                continue
            for pos, var in enumerate(node.inputs):
                owner = var.owner
                if (owner is None or owner.op.view or owner.op.name not in _FRESH
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
