"""``Mode(linker=, optimizer=)``: Theano's compilation-mode object, for ``function(mode=...)``,
and ``theano.compile.mode``'s functions (``get_mode``, ``get_default_mode``, the predefined modes).

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
        self.optimizer_level = _LEVELS[optimizer]   # None: the configured optimizer
        self.name = "FAST_COMPILE" if self.optimizer_level == "fast_compile" else "FAST_RUN"

    def including(self, *tags: str) -> "Mode":
        return self

    def excluding(self, *tags: str) -> "Mode":
        return self

    def __repr__(self) -> str:
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"


class _NamedMode(Mode):
    """A predefined mode that compile.py knows by name (it adds type checks or a NaN guard)."""

    def __init__(self, name: str) -> None:
        super().__init__("vm", "fast_run")
        self.name = name
        self.optimizer_level = None

    def __repr__(self) -> str:
        return f"{self.name}(linker='vm', optimizer='fast_run')"


FAST_RUN = Mode("vm", "fast_run")
FAST_COMPILE = Mode("vm", "fast_compile")
predefined_modes: dict[str, Mode] = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE,
                                     "DEBUG_MODE": _NamedMode("DEBUG_MODE")}
predefined_linkers = {name: name for name in LINKERS if name is not None}
predefined_optimizers = {name: level for name, level in _LEVELS.items() if name != "default"}


def get_mode(mode: Any) -> Mode:
    """The Mode object for ``mode``: a Mode passes through, a name gives the predefined mode
    ('FAST_RUN', 'FAST_COMPILE', 'DebugMode', 'NanGuardMode'), None the default (config.mode)."""
    if mode is None:
        return get_default_mode()
    if isinstance(mode, Mode):
        return mode
    if mode in predefined_modes:
        return predefined_modes[mode]
    if mode in ("DebugMode", "NanGuardMode"):
        return _NamedMode(mode)
    raise ValueError(f"No predefined mode exist for string: {mode!r} (symconv knows "
                     f"{sorted(predefined_modes) + ['DebugMode', 'NanGuardMode']})")


def get_default_mode() -> Mode:
    """The Mode of ``config.mode`` (what ``function`` uses without ``mode=``)."""
    from symconv.config import config
    return get_mode(config.mode)
