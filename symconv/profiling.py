"""Per-node time profile of a compiled function (``function(..., profile=True)``)."""
from __future__ import annotations

import atexit
import sys
from typing import Any, TextIO


def _shape_text(node: Any) -> str:
    return ", ".join(str(tuple("?" if s is None else s for s in i.type.shape))
                     for i in node.inputs)


class ProfileStats:
    """Time spent per node and per op over all calls of one function."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def rows(self) -> list[tuple[float, int, Any]]:
        return sorted(self.fn.program.profile_rows(), key=lambda r: -r[0])

    def summary(self, file: TextIO | None = None, n_nodes: int = 30) -> str:
        """A table of the costliest nodes and of time per op; printed to ``file`` if given."""
        rows = self.rows()
        total = sum(r[0] for r in rows) or 1e-12
        calls = max((r[1] for r in rows), default=0)
        lines = [f"Profile of {self.fn!r}: {calls} calls, {total * 1e3:.3f} ms in kernels",
                 "", "Ops:", f"{'time %':>7} {'ms/call':>9}  op"]
        by_op: dict[str, float] = {}
        for t, _, node in rows:
            by_op[node.op.name] = by_op.get(node.op.name, 0.0) + t
        for op, t in sorted(by_op.items(), key=lambda kv: -kv[1]):
            lines.append(f"{100 * t / total:6.1f}% {1e3 * t / max(calls, 1):9.4f}  {op}")
        lines += ["", "Nodes:", f"{'time %':>7} {'ms/call':>9} {'calls':>6}  node  <input shapes>"]
        for t, c, node in rows[:n_nodes]:
            lines.append(f"{100 * t / total:6.1f}% {1e3 * t / max(c, 1):9.4f} {c:6d}  "
                         f"{node!r}  <{_shape_text(node)}>")
        text = "\n".join(lines)
        if file is not None:
            print(text, file=file)
        return text

    def print_at_exit(self) -> None:
        atexit.register(lambda: self.summary(file=sys.stderr))
