"""Configuration flags: one table, read from SYMCONV_FLAGS and ~/.symconvrc, overridable in code."""
from __future__ import annotations

import configparser
import contextlib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator


def _choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"expected one of {', '.join(map(repr, values))}")
        return text
    parse.valid = ", ".join(values)  # type: ignore[attr-defined]
    return parse


def _device(text: str) -> str:
    if text == "cpu" or text == "cuda" or re.fullmatch(r"cuda\d+", text):
        return text
    raise ValueError("expected 'cpu', 'cuda' or 'cudaN' (N a device number)")


_device.valid = "cpu, cuda, cudaN"  # type: ignore[attr-defined]


def _bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected True or False")


_bool.valid = "True, False"  # type: ignore[attr-defined]


def _optimizer(text: str) -> str:
    if text in ("fast_run", "fast_compile", "None", "none", "o1"):
        return "None" if text == "none" else text
    raise ValueError("expected one of 'fast_run', 'fast_compile', 'None'")


_optimizer.valid = "fast_run, fast_compile, None"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Flag:
    name: str
    default: str
    parse: Callable[[Any], Any]
    help: str


FLAGS: dict[str, Flag] = {f.name: f for f in [
    Flag("floatX", "float64", _choice("float64", "float32", "float16"),
         "dtype of T.matrix() & co. and of Python floats in graphs"),
    Flag("device", "cpu", _device, "where compiled functions run: cpu, cuda or cudaN"),
    Flag("mode", "FAST_RUN",
         _choice("FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode", "DEBUG_MODE"),
         "default compilation mode of symconv.function"),
    Flag("optimizer", "fast_run", _optimizer,
         "rewrite set: fast_run (all), fast_compile (only what correctness needs), None"),
    Flag("on_opt_error", "warn", _choice("warn", "raise", "ignore"),
         "what a failing rewrite rule does: warn and skip it, raise, or skip silently"),
    Flag("on_unused_input", "raise", _choice("raise", "warn", "ignore"),
         "default for function(..., on_unused_input=)"),
    Flag("profile", "False", _bool, "profile every compiled function and print at exit"),
    Flag("check_types", "False", _bool,
         "check every node's result against its inferred type at run time (slow)"),
    Flag("check_rewrites", "False", _bool,
         "after every rewrite phase, re-infer every node's type and fail on a mismatch"),
    Flag("warn_float64", "ignore", _choice("ignore", "warn", "raise"),
         "what to do when a float64 variable is created"),
    Flag("compute_test_value", "off", _choice("off", "ignore", "warn", "raise"),
         "run each new node on its inputs' tag.test_value when it is built (Theano's debugging "
         "aid): a missing test value is ignored, warned about or raised"),
]}


def _read_sources() -> dict[str, str]:
    """Flag values from ~/.symconvrc (INI [global] section) then SYMCONV_FLAGS (wins)."""
    values: dict[str, str] = {}
    rc = os.environ.get("SYMCONVRC", os.path.expanduser("~/.symconvrc"))
    for path in rc.split(os.pathsep):
        if path and os.path.isfile(path):
            parser = configparser.ConfigParser()
            parser.optionxform = str  # flag names are case sensitive (floatX)
            parser.read(path)
            for section in parser.sections():
                for key, val in parser.items(section):
                    name = key if section == "global" else f"{section}__{key}"
                    values[name] = val
    for item in os.environ.get("SYMCONV_FLAGS", "").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"SYMCONV_FLAGS: {item!r} is not of the form name=value")
        key, val = item.split("=", 1)
        values[key.strip()] = val.strip()
    return values


class _WarnFlags:
    """Theano's ``config.warn.*`` (warnings about old Theano bugs): any flag is accepted."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return "None" if name == "ignore_bug_before" else False


class Config:
    """The flags; read them as attributes (``config.floatX``) and set them the same way."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", {})
        for name, flag in FLAGS.items():
            self._values[name] = flag.parse(flag.default)
        for name, text in _read_sources().items():
            self._set(name, text, source="SYMCONV_FLAGS/.symconvrc")

    def _set(self, name: str, value: Any, source: str = "code") -> None:
        if name.startswith("warn."):   # Theano's warn.* flags: accepted, they warn of nothing
            setattr(self.warn, name[5:], value)
            return
        flag = FLAGS.get(name)
        if flag is None:
            raise ValueError(
                f"unknown symconv flag {name!r} (from {source}); valid flags: "
                f"{', '.join(sorted(FLAGS))}")
        try:
            self._values[name] = flag.parse(value)
        except ValueError as err:
            valid = getattr(flag.parse, "valid", "")
            raise ValueError(
                f"bad value {value!r} for symconv flag {name!r} (from {source}): {err}"
                + (f"; valid values: {valid}" if valid else "")) from None

    def __getattr__(self, name: str) -> Any:
        if name == "warn":
            self._values.setdefault("warn", _WarnFlags())
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"symconv.config has no flag {name!r}; valid flags: "
                f"{', '.join(sorted(FLAGS))}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._set(name, value)

    @contextlib.contextmanager
    def change_flags(self, *args: dict, **flags: Any) -> Iterator[None]:
        """Set flags for the duration of a ``with`` block (scoped override, for tests); flags
        may also come as a dict (``change_flags({'floatX': 'float32'})``, as Theano)."""
        for arg in args:
            flags = {**arg, **flags}
        old = dict(self._values)
        try:
            for name, value in flags.items():
                self._set(name, value)
            yield
        finally:
            self._values.clear()
            self._values.update(old)

    def __str__(self) -> str:
        return "\n".join(f"{name} = {self._values[name]}    # {flag.help}"
                         for name, flag in FLAGS.items())


config = Config()
change_flags = config.change_flags
