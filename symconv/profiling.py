"""Per-node time profile of a compiled function (``function(..., profile=True)``)."""
from __future__ import annotations

import atexit
import sys
from typing import Any, TextIO


def _shapes_text(shapes: tuple | None) -> str:
    """Runtime shapes seen at the last call: ``(20, 784), (784, 500) -> (20, 500)``."""
    if shapes is None:
        return "not run"
    ins, out = shapes
    return f"{', '.join(str(s) for s in ins)} -> {out}"


class ProfileStats:
    """Time spent per node and per op over all calls of one function.

    Times are those of the kernels alone (measured around each node of the generated
    program); the function's own per-call overhead is not included.
    """

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def rows(self) -> list[tuple[float, int, Any]]:
        """(seconds, calls, node) per scheduled node, costliest first."""
        return sorted(self.fn.program.profile_rows(), key=lambda r: -r[0])

    def op_rows(self) -> list[tuple[float, int, str]]:
        """(seconds, number of nodes, op name) per op, costliest first."""
        by_op: dict[str, list] = {}
        for t, _, node in self.fn.program.profile_rows():
            entry = by_op.setdefault(node.op.name, [0.0, 0])
            entry[0] += t
            entry[1] += 1
        return sorted(((t, k, name) for name, (t, k) in by_op.items()), key=lambda r: -r[0])

    def _node_text(self, n: int) -> str:
        """The node as its schedule line prints it: ``v3 = tanh(v2)``."""
        program = self.fn.program
        node = program.nodes[n]
        args = ", ".join(program.names[id(i)] for i in node.inputs)
        return f"v{n} = {node!r}({args})"

    def summary(self, file: TextIO | None = None, n_nodes: int = 30) -> str:
        """The profile as text: an ops table, then the costliest nodes with their schedule
        form and the runtime shapes of their last call; printed to ``file`` if given."""
        program = self.fn.program
        index = {id(node): n for n, node in enumerate(program.nodes)}
        rows = self.rows()
        total = sum(r[0] for r in rows) or 1e-12
        calls = max((r[1] for r in rows), default=0)
        per_call = 1e3 * total / max(calls, 1)
        lines = [f"Profile of {self.fn!r}: {calls} calls, {total * 1e3:.3f} ms in kernels "
                 f"({per_call:.4f} ms per call), {len(rows)} nodes", "",
                 "Ops:", f"{'time %':>7} {'cum %':>6} {'ms/call':>9} {'nodes':>5}  op"]
        cumulative = 0.0
        for t, k, name in self.op_rows():
            cumulative += t
            lines.append(f"{100 * t / total:6.1f}% {100 * cumulative / total:5.1f}% "
                         f"{1e3 * t / max(calls, 1):9.4f} {k:5d}  {name}")
        lines += ["", "Nodes:",
                  f"{'time %':>7} {'cum %':>6} {'ms/call':>9} {'calls':>6}  "
                  f"node  <input shapes -> output shape>"]
        cumulative = 0.0
        for t, c, node in rows[:n_nodes]:
            cumulative += t
            n = index[id(node)]
            lines.append(f"{100 * t / total:6.1f}% {100 * cumulative / total:5.1f}% "
                         f"{1e3 * t / max(c, 1):9.4f} {c:6d}  {self._node_text(n)}  "
                         f"<{_shapes_text(program.node_shapes[n])}>")
        if len(rows) > n_nodes:
            lines.append(f"  ... {len(rows) - n_nodes} more nodes, "
                         f"{100 * (1 - cumulative / total):.1f}% of the time")
        text = "\n".join(lines)
        if file is not None:
            print(text, file=file)
        return text

    def print_at_exit(self) -> None:
        """Print the summary to stderr when the interpreter exits, if the function was called
        (``function(..., profile=True)`` or flag ``profile=True``, as in Theano)."""
        if not AT_EXIT:
            atexit.unregister(_print_all)  # registered once however often the list empties
            atexit.register(_print_all)
        AT_EXIT.append(self)


# the profiles printed at exit; a test runner clears it so its summary line stays last
AT_EXIT: list[ProfileStats] = []


def _print_all() -> None:
    for stats in AT_EXIT:
        if any(calls for _, calls, _ in stats.fn.program.profile_rows()):
            stats.summary(file=sys.stderr)
    AT_EXIT.clear()
