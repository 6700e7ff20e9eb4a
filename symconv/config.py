"""Configuration flags: one table, read from SYMCONV_FLAGS and ~/.symconvrc (or the files named
by $SYMCONVRC), overridable in code."""
from __future__ import annotations

import configparser
import contextlib
import difflib
import os
import re
import sys
import warnings
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
    Flag("warn_float64", "ignore", _choice("ignore", "warn", "raise", "pdb"),
         "what to do when a symbolic float64 variable (an input or an op's result, not a "
         "constant or shared variable) is created: nothing, warn, raise, or stop in pdb"),
    Flag("compute_test_value", "off", _choice("off", "ignore", "warn", "raise"),
         "run each new node on its inputs' tag.test_value when it is built (Theano's debugging "
         "aid): a missing test value is ignored, warned about or raised"),
]}


# Flags of Theano's that have no meaning here (C compilation, cuDNN, the old GPU back end,
# warnings about bugs in old Theano versions). Copied from an old THEANO_FLAGS or .theanorc they
# are accepted with one warning instead of stopping the program.
THEANO_ONLY_FLAGS = frozenset("""
    allow_gc base_compiledir cast_policy check_stack_trace compiledir compiledir_format
    compute_test_value_opt cxx cycle_detection deterministic
    exception_verbosity experimental.local_alloc_elemwise force_device gpu_device_cache_size
    home init_gpu_device int_division linker nocleanup on_shape_error openmp
    openmp_elemwise_minsize optimizer_excluding optimizer_including optimizer_requiring
    optimizer_verbose print_active_device print_global_stats reoptimize_unpickled_function
    traceback.limit traceback.compile_limit unpickle_function warn_input_not_reused
    warn_no_input_not_reused assert_no_cpu_op gpuarray.preallocate""".split())
THEANO_ONLY_PREFIXES = ("nvcc.", "dnn.", "lib.", "warn.", "gcc.", "cmodule.", "blas.", "cuda.",
                        "gpuarray.", "scan.", "compile.", "tensor.", "magma.", "metaopt.",
                        "optdb.", "profiling.", "NanGuardMode.", "DebugMode.", "numpy.",
                        "conv.", "ctc.", "pycuda.", "traceback.", "gpuelemwise.", "dlt.")


class FlagError(ValueError, SystemExit):
    """A bad flag in SYMCONV_FLAGS, an rc file or code.

    A ValueError for code that catches it; when nobody does, Python prints the one-line message
    and exits with status 1 (as for SystemExit) instead of showing a traceback.
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.code = "symconv: " + message


def is_theano_only(name: str) -> bool:
    """Whether ``name`` is a Theano flag that symconv accepts and ignores."""
    return name in THEANO_ONLY_FLAGS or name.startswith(THEANO_ONLY_PREFIXES)


def suggest(name: str) -> str:
    """`` (did you mean 'floatX'?)`` for a near miss of a flag name, else ''."""
    lower = {n.lower(): n for n in FLAGS}
    if name.lower() in lower:
        return f" (did you mean {lower[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, list(FLAGS), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def rc_paths() -> list[str]:
    """The rc files read, in order: ``$SYMCONVRC`` (os.pathsep-separated) or ~/.symconvrc."""
    rc = os.environ.get("SYMCONVRC", os.path.expanduser("~/.symconvrc"))
    return [path for path in rc.split(os.pathsep) if path]


def _read_rc(path: str) -> dict[str, str]:
    """Flags from one INI file: ``[global]`` keys as they are, ``[section]`` keys as
    ``section.key``; lines before any section header count as ``[global]``; ``;`` and ``#``
    start comments, also after a value."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                       interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # floatX is mixed case
    try:
        try:
            parser.read_string(text, source=path)
        except configparser.MissingSectionHeaderError:
            parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                               interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string("[global]\n" + text, source=path)
    except configparser.Error as err:
        first = str(err).splitlines()[0]
        raise FlagError(f"cannot read rc file {path}: {first}") from None
    values = {}
    for section in parser.sections():
        for key, val in parser.items(section):
            values[key if section == "global" else f"{section}.{key}"] = val
    return values


def _read_sources() -> dict[str, tuple[str, str]]:
    """{flag: (value, where it came from)}: rc files first, then SYMCONV_FLAGS (wins)."""
    values: dict[str, tuple[str, str]] = {}
    for path in rc_paths():
        if os.path.isfile(path):
            for key, val in _read_rc(path).items():
                values[key] = (val, f"rc file {path}")
    for item in os.environ.get("SYMCONV_FLAGS", "").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise FlagError(f"SYMCONV_FLAGS: {item!r} is not of the form name=value")
        key, val = item.split("=", 1)
        values[key.strip()] = (val.strip(), "SYMCONV_FLAGS")
    return values


class _WarnFlags:
    """Theano's ``config.warn.*`` (warnings about old Theano bugs): any flag is accepted."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return "None" if name == "ignore_bug_before" else False


class Config:
    """The flags; read them as attributes (``config.floatX``) and set them the same way."""

    def __init__(self, read_sources: bool = True) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_pending", None)
        object.__setattr__(self, "ignored", {})
        object.__setattr__(self, "sources", {})  # flag -> where a non-default value came from
        for name, flag in FLAGS.items():
            self._values[name] = flag.parse(flag.default)
        if not read_sources:
            return
        for name, (text, source) in _read_sources().items():
            if name not in FLAGS and is_theano_only(name):
                self.ignored[name] = source
                if name.startswith("warn."):  # readable back as config.warn.<name>
                    self._set(name, text, source=source)
                continue
            self._set(name, text, source=source)
            self.sources[name] = source
        for source in dict.fromkeys(self.ignored.values()):
            names = ", ".join(n for n, src in self.ignored.items() if src == source)
            # one line, attributed to the file or variable that holds the flags
            warnings.warn_explicit(
                f"symconv ignores Theano flags that have no effect here: {names}",
                TheanoFlagWarning, source.removeprefix("rc file "), 0)

    def _set(self, name: str, value: Any, source: str = "code") -> None:
        if name.startswith("warn."):   # Theano's warn.* flags: accepted, they warn of nothing
            setattr(self.warn, name[5:], value)
            return
        flag = FLAGS.get(name)
        if flag is None:
            raise FlagError(
                f"unknown flag {name!r} in {source}{suggest(name)}; valid flags: "
                f"{', '.join(sorted(FLAGS))}")
        try:
            self._values[name] = flag.parse(value)
        except ValueError as err:
            valid = getattr(flag.parse, "valid", "")
            raise FlagError(
                f"bad value {value!r} for flag {name!r} in {source}: {err}"
                + (f"; valid values: {valid}" if valid else "")) from None

    def __getattr__(self, name: str) -> Any:
        pending = self.__dict__.get("_pending")
        if pending is not None:
            raise pending
        if name == "warn":
            self._values.setdefault("warn", _WarnFlags())
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"symconv.config has no flag {name!r}{suggest(name)}; valid flags: "
                f"{', '.join(sorted(FLAGS))}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._set(name, value)

    @property
    def problem(self) -> FlagError | None:
        """The error in SYMCONV_FLAGS or an rc file found at import, raised at the first read
        of a flag (so that ``symconv-bench list`` and ``--help`` still work); None if none."""
        return self.__dict__.get("_pending")

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


def _load() -> Config:
    """The process's flags; a bad one is kept back and raised at the first read of a flag."""
    try:
        return Config()
    except FlagError as err:
        cfg = Config(read_sources=False)
        object.__setattr__(cfg, "_pending", err)
        return cfg


def float64_created(what: str) -> None:
    """Act on flag ``warn_float64`` ('ignore', 'warn', 'raise' or 'pdb') for a new float64
    variable described by ``what`` (its name or op and the user's source line)."""
    action = config.warn_float64
    if action == "ignore":
        return
    message = (f"a float64 variable was created: {what} (flag warn_float64={action}; use "
               "floatX=float32 or an explicit float32 dtype to avoid it)")
    if action == "warn":
        # attributed to the user's line that created it, once per line
        filename, _, lineno = what.rpartition(" at ")[2].rpartition(":")
        warnings.warn_explicit(message, Float64Warning, filename or "<unknown>",
                               int(lineno) if lineno.isdigit() else 0,
                               registry=_FLOAT64_SEEN)
    elif action == "raise":
        raise Float64Error(message)
    else:  # pdb
        import pdb
        print(message, file=sys.stderr)
        pdb.set_trace()


_FLOAT64_SEEN: dict = {}


class TheanoFlagWarning(UserWarning):
    """A Theano flag with no effect in symconv was set (and is ignored)."""


class Float64Warning(UserWarning):
    """A float64 variable was created while ``warn_float64=warn``."""


class Float64Error(TypeError):
    """A float64 variable was created while ``warn_float64=raise``."""


config = _load()
change_flags = config.change_flags
