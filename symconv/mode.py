"""``Mode(linker=, optimizer=)``: Theano's compilation-mode object, for ``function(mode=...)``.

symconv has one executor, so every linker ('py', 'c', 'vm', 'cvm', 'c|py') runs the same
schedule; the optimizer selects the rewrite level.
"""
from __future__ import annotations

from typing import Any

_LEVELS = {None: "None", "None": "None", "fast_run": "fast_run", "fast_compile": "fast_compile",
           "merge": "fast_compile", "default": None}
LINKERS = ("py", "c", "c|py", "c|py_nogc", "vm", "vm_nogc", "cvm", "cvm_nogc", None)


class Mode:
    """A compilation mode: ``Mode(linker='vm', optimizer='fast_run')``."""

    def __init__(self, linker: str | None = None, optimizer: Any = "default") -> None:
        if linker not in LINKERS:
            raise ValueError(f"Mode: unknown linker {linker!r}; valid: {LINKERS}")
        if optimizer not in _LEVELS:
            raise ValueError(f"Mode: unknown optimizer {optimizer!r}; valid: "
                             f"{sorted(str(k) for k in _LEVELS)}")
        self.linker, self.optimizer = linker, optimizer
        self.name = "FAST_RUN"
        self.optimizer_level = _LEVELS[optimizer]   # None: the configured optimizer

    def including(self, *tags: str) -> "Mode":
        return self

    def excluding(self, *tags: str) -> "Mode":
        return self

    def __repr__(self) -> str:
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"
