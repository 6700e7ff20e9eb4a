"""function(): givens -> rewrites -> schedule -> bound kernels -> a callable Function."""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from symconv.config import config
from symconv.executor import Program, view_root
from symconv.graph import (Constant, SharedVariable, TensorType, Variable, apply,
                           as_tensor_variable, clone_replace, graph_inputs, is_literal, rebuild)
from symconv.io import In, Out
from symconv.values import copy_value, filter_value, is_array_value


class UnusedInputError(ValueError):
    """An input of the function is not needed by any output or update."""


class MissingInputError(ValueError):
    """The graph needs a variable that is neither an input, shared, nor a constant."""


_MODES = {"FAST_RUN": ("fast_run", None), "FAST_COMPILE": ("fast_compile", None),
          "DebugMode": ("fast_run", "check"), "DEBUG_MODE": ("fast_run", "check"),
          "NanGuardMode": ("fast_run", "nanguard")}


def _mode_settings(mode: Any, profile: bool) -> tuple[str, str | None]:
    """(optimizer level, instrumentation) for a mode name (or None: config.mode)."""
    mode = mode if mode is not None else config.mode
    name = getattr(mode, "name", mode)
    if name not in _MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(_MODES)}")
    optimizer, instrument = _MODES[name]
    if mode is not None and name == "FAST_RUN" and config.optimizer != "fast_run":
        optimizer = config.optimizer
    if getattr(mode, "optimizer_level", None) is not None:   # a symconv.Mode's optimizer
        optimizer = mode.optimizer_level
    if instrument is None and config.check_types:
        instrument = "check"
    if profile:
        instrument = "profile"
    return optimizer, instrument


def adopt_mode(graph: list[Variable], mode: Any) -> list[Variable]:
    """``graph`` with every op that compiles an inner graph (scan) and has no mode of its own
    given ``mode``, the function's (None: config.mode, which such ops read anyway)."""
    if mode is None:
        return graph

    def rule(node: Any, inputs: list[Variable]) -> Variable | None:
        adopt = getattr(node.op, "adopt_mode", None)
        params = adopt(node, mode) if adopt is not None else None
        return None if params is None else apply(node.op, inputs, params)
    return rebuild(graph, rule)


def _as_pairs(value: Any, what: str) -> list[tuple[Any, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        if what == "updates" and len(value) > 1 and not isinstance(value, OrderedDict):
            warnings.warn("the 'updates' parameter of symconv.function() expects an OrderedDict "
                          "or a list of pairs; a plain dict fixes the update order only by "
                          "insertion, which Theano did not guarantee", UserWarning, stacklevel=3)
        return list(value.items())
    pairs = list(value)
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{what} must be a dict or a list of (variable, value) pairs; got "
                            f"an element {pair!r}")
    return [tuple(p) for p in pairs]


def _check_update(var: Any, value: Any) -> Variable:
    if not isinstance(var, SharedVariable):
        raise TypeError(f"updates can only target shared variables; got {var!r} "
                        f"({type(var).__name__}) as an update target")
    if not isinstance(value, Variable) and hasattr(var.type, "make_constant"):
        return var.type.make_constant(value)   # a sparse or generic value
    if not isinstance(var.type, TensorType) and getattr(value, "type", None) != var.type:
        raise TypeError(f"an update must have the same type as its shared variable: {var} is "
                        f"{var.type} but its update {value} is {getattr(value, 'type', value)}")
    if is_literal(value) or isinstance(value, (np.ndarray, np.generic, list)):
        return as_tensor_variable(filter_value(var.type, value, allow_downcast=True))
    value = as_tensor_variable(value)
    if value.dtype != var.dtype or value.ndim != var.ndim or not all(
            a is None or b is None or a == b for a, b in zip(var.type.shape, value.type.shape)):
        hint = (f"; cast it: T.cast(update, '{var.dtype}') (under floatX=float32, mixing float64 "
                f"values in is the usual cause)" if value.dtype != var.dtype else "")
        raise TypeError(f"an update must have the same type as its shared variable: "
                        f"{var} is {var.type} but its update {value} is {value.type}{hint}")
    return value


def _add_default_updates(outputs: list[Variable], targets: list[SharedVariable],
                         values: list[Variable], no_default_updates: Any) -> None:
    """Append the ``default_update`` of every shared variable the graph reads (Theano's rule:
    not for variables with an explicit update, nor any when ``no_default_updates`` is True,
    nor those it lists); a default update's own graph may bring in more."""
    if no_default_updates is True:
        return
    skip = {id(v) for v in (no_default_updates or ())}
    seen: set[int] = set()
    todo = outputs + values
    while todo:
        found = []
        for var in graph_inputs(todo):
            if (isinstance(var, SharedVariable) and id(var) not in seen
                    and id(var) not in skip and var.default_update is not None
                    and not any(var is t for t in targets)):
                seen.add(id(var))
                targets.append(var)
                values.append(_check_update(var, var.default_update))
                found.append(values[-1])
        todo = found


def _check_given(key: Any, value: Any) -> tuple[Variable, Variable]:
    if not isinstance(key, Variable) or isinstance(key, Constant):
        raise TypeError(f"givens keys must be symbolic variables (inputs or shared variables), "
                        f"got {key!r}")
    value = as_tensor_variable(value)
    if value.dtype != key.dtype or value.ndim != key.ndim:
        raise TypeError(f"givens: {key} ({key.type}) cannot be replaced by {value} "
                        f"({value.type}): the dtype and the number of dimensions must match; "
                        f"cast the replacement with T.cast(value, '{key.dtype}')")
    return key, value


class _InputSpec:
    """Validation and conversion of one positional argument."""

    def __init__(self, var: Variable, position: int, allow_downcast: bool | None,
                 option: In | None = None) -> None:
        if option is not None and option.allow_downcast is not None:
            allow_downcast = option.allow_downcast
        self.var, self.position, self.allow_downcast = var, position, allow_downcast
        self.name = option.name if option is not None else var.name
        self.default = option.value if option is not None and option.has_default else None
        self.has_default = option is not None and option.has_default
        self.strict = option is not None and option.strict
        self.dtype = np.dtype(var.dtype)
        # -1: a sparse or generic input never takes the plain-array fast path of check()
        self.ndim = var.ndim if isinstance(var.type, TensorType) else -1
        self.fixed = [(a, s) for a, s in enumerate(var.type.shape) if s is not None]

    def check(self, value: Any) -> np.ndarray:
        if type(value) is np.ndarray and value.dtype is self.dtype and value.ndim == self.ndim:
            shape = value.shape
            for axis, size in self.fixed:
                if shape[axis] != size:
                    break
            else:
                return value
        try:
            if self.strict and not (isinstance(value, np.ndarray)
                                    and value.dtype == self.dtype):
                raise TypeError(f"strict input expects a {self.dtype} array, got "
                                f"{type(value).__name__} of dtype "
                                f"{getattr(value, 'dtype', '?')}")
            return filter_value(self.var.type, value, allow_downcast=self.allow_downcast)
        except (TypeError, ValueError) as err:
            name = f'with name "{self.name}" ' if self.name else ""
            raise TypeError(f"Bad input argument {name}to symconv function at index "
                            f"{self.position} (0-based): {err}") from None


def _owned(value: Any) -> np.ndarray:
    """``value`` as a writable array: read-only views (a broadcast, a constant) are copied."""
    if not is_array_value(value):   # a SciPy sparse matrix or a generic object: as it is
        return value
    array = np.asarray(value)
    return array if array.flags.writeable else array.copy()


class Function:
    """A compiled graph: call it with the inputs' values (positionally or by name)."""

    def __init__(self, spec: dict, program: Program, input_specs: list[_InputSpec],
                 out_copy: list[bool], out_kind: str, out_keys: list | None,
                 update_targets: list[SharedVariable], update_copy: list[bool],
                 name: str | None) -> None:
        self._spec = spec
        self.program = program
        self._inputs = input_specs
        self._run = program.run
        self._containers = [v.container for v in program.shared]
        self._update_containers = [v.container for v in update_targets]
        self._update_targets = update_targets
        self._update_copy = update_copy if any(update_copy) else None
        self._out_copy = out_copy
        self._out_kind, self._out_keys = out_kind, out_keys
        self._by_name = {s.name: s.position for s in input_specs if s.name}
        self._defaults = any(s.has_default for s in input_specs)
        self.name = name
        self.trust_input = False
        backend = program.backend
        self._to_device = None if backend.is_host else backend.to_device
        self._to_host = None if backend.is_host else backend.to_host
        self._plain_single = (out_kind == "single" and not out_copy[0]
                              and self._to_host is None)
        self._inplace_containers = [program.nodes[n].inputs[pos].container
                                    for n, pos in program.inplace.items()]
        self._make_plain_program = None   # set by function(): the program without in-place
        self._plain_program: Program | None = None
        self.profile = None
        if program.instrument == "profile":
            from symconv.profiling import ProfileStats
            self.profile = ProfileStats(self)

    @property
    def maker(self) -> Any:
        """Theano's ``f.maker``: ``f.maker.inputs``, and ``f.maker.fgraph`` (inputs, outputs,
        toposort()), a read-only view of the compiled graph."""
        from symconv.function_extras import FunctionMaker
        return FunctionMaker(self)

    @property
    def fgraph(self) -> Any:
        return self.program

    def __reduce__(self) -> tuple:
        return (_rebuild_function, (self._spec, {"trust_input": self.trust_input}))

    def copy(self, share_memory: bool = False, swap: dict | None = None,
             delete_updates: bool = False, name: str | None = None, profile: Any = None
             ) -> "Function":
        """This function recompiled, with shared variables swapped or without its updates."""
        from symconv.function_extras import copy_function
        return copy_function(self, share_memory, swap, delete_updates, name, profile)

    def _use_inplace(self) -> bool:
        """Whether this call may write updates into shared storage as it computes them.

        Not when a target's storage is read-only (a borrowed buffer, a memmap), nor when NumPy
        raises on floating-point errors: an in-place node that raises midway would leave a
        shared variable half-updated. Those calls run the same graph without in-place writes,
        so a failing call changes nothing."""
        for container in self._inplace_containers:
            value = container.value
            if type(value) is not np.ndarray or not value.flags.writeable:
                return False
        modes = np.geterr().values()
        return "raise" not in modes and "call" not in modes

    def _run_without_inplace(self, *args: Any) -> tuple:
        if self._plain_program is None:
            self._plain_program = self._make_plain_program()
        return self._plain_program.run(*args)

    def _args_from(self, args: tuple, kwargs: dict) -> list:
        missing_mark = object()
        values = list(args) + [missing_mark] * (len(self._inputs) - len(args))
        for key, value in kwargs.items():
            pos = self._by_name.get(key)
            if pos is None:
                raise TypeError(f"{self} got an unexpected keyword argument {key!r}; inputs: "
                                f"{sorted(self._by_name)}")
            if pos < len(args):
                raise TypeError(f"{self} got several values for input {key!r}")
            values[pos] = value
        for i, spec in enumerate(self._inputs):
            if values[i] is missing_mark and spec.has_default:
                values[i] = spec.default
        missing = [s.name or f"#{s.position}" for s, v in zip(self._inputs, values)
                   if v is missing_mark]
        if missing:
            raise TypeError(f"{self} is missing values for inputs {missing}")
        return values

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != len(self._inputs) or self._defaults:
            if len(args) > len(self._inputs):
                raise TypeError(f"{self} takes {len(self._inputs)} inputs, got {len(args)}")
            args = tuple(self._args_from(args, kwargs))
        if not self.trust_input:
            args = [spec.check(a) for spec, a in zip(self._inputs, args)]
        if self._to_device is not None:
            args = [self._to_device(a) for a in args]
        run = self._run
        if self._inplace_containers and not self._use_inplace():
            run = self._run_without_inplace
        try:
            outs, ups = run(*args, *[c.value for c in self._containers])
        except Exception as exc:
            better = self.program.describe_error(exc)
            if better is None:
                raise
            raise better.with_traceback(exc.__traceback__) from None
        if ups:
            self.write_updates(ups)
        if self._plain_single:   # the common case: one host array that needs no copy
            out = outs[0]
            if type(out) is np.ndarray and out.flags.writeable:
                return out
            return _owned(out)
        return self.format_outputs(outs)

    def write_updates(self, ups: Sequence[Any]) -> None:
        """Store update values into their shared variables (copying where they alias)."""
        copy = self._update_copy
        for i, (container, value) in enumerate(zip(self._update_containers, ups)):
            if copy is not None and copy[i]:
                value = value.copy()
            elif container.backend.is_host and (type(value) is not np.ndarray
                                                or not value.flags.writeable):
                value = _owned(value)
            container.value = value

    def format_outputs(self, outs: Sequence[Any]) -> Any:
        """Outputs as a call returns them: host arrays, single, list or dict."""
        result = []
        for value, copy in zip(outs, self._out_copy):
            if self._to_host is not None:
                value = self._to_host(value)
            elif copy:
                value = np.array(value) if is_array_value(value) else copy_value(value)
            elif type(value) is not np.ndarray or not value.flags.writeable:
                value = _owned(value)
            result.append(value)
        if self._out_kind == "single":
            return result[0]
        if self._out_kind == "dict":
            return dict(zip(self._out_keys, result))
        return result

    # ---- the entry point of device backends (symconv.backends.cupy, cuda.graphs) -------------

    @property
    def input_specs(self) -> list[_InputSpec]:
        """Per positional input: ``.var``, ``.position`` and ``.check(value)`` (validate)."""
        return self._inputs

    @property
    def shared_containers(self) -> list:
        """Containers of the shared variables the program reads, in its argument order."""
        return self._containers

    @property
    def update_containers(self) -> list:
        """Containers that ``write_updates`` stores into, in update order."""
        return self._update_containers

    def run_program(self, values: Sequence[Any]) -> tuple[tuple, tuple]:
        """Run the program on validated input values (on the function's device) and the shared
        variables' current values: ``(outputs, update values)``; nothing is written."""
        return self._run(*values, *[c.value for c in self._containers])

    def arrange_outputs(self, outs: Sequence[Any]) -> Any:
        """Outputs arranged like a call's result (single, list or dict), left where they are."""
        if self._out_kind == "single":
            return outs[0]
        if self._out_kind == "dict":
            return dict(zip(self._out_keys, outs))
        return list(outs)

    def __repr__(self) -> str:
        return f"<symconv.Function {self.name or ''}>".replace(" >", ">")


def ownership(outs: Sequence[Variable], ups: Sequence[Variable],
              targets: Sequence[SharedVariable]) -> tuple[list[bool], list[bool]]:
    """Which returned arrays and stored update values must be copied so that none shares
    memory with another, with an input, a constant or a shared value.

    Each buffer a call computes (a view root) goes to one owner only: first to the updates
    (an update keeps its buffer, which in-place updates then write into), then to the outputs
    in order; every later holder of the same buffer gets a copy. A buffer the call did not
    compute (an input, a constant, a shared value) is always copied, except an update whose
    value is a view of its own shared variable.
    """
    claimed: set[int] = set()
    update_copy = []
    for target, var in zip(targets, ups):
        root = view_root(var)
        if root.owner is None:
            update_copy.append(root is not target)
        else:
            update_copy.append(id(root) in claimed)
            claimed.add(id(root))
    out_copy = []
    for var in outs:
        root = view_root(var)
        out_copy.append(root.owner is None or id(root) in claimed)
        claimed.add(id(root))
    return out_copy, update_copy


def _unwrap(output: Any) -> Any:
    return output.variable if isinstance(output, Out) else output


def _rebuild_function(spec: dict, state: dict | None = None) -> Function:
    fn = function(**spec)
    for key, value in (state or {}).items():
        setattr(fn, key, value)
    return fn


def function(inputs: Sequence[Variable], outputs: Any = None, mode: Any = None,
             updates: Any = None, givens: Any = None, no_default_updates: Any = False,
             accept_inplace: bool = False, name: str | None = None,
             rebuild_strict: bool = True, allow_input_downcast: bool | None = None,
             profile: bool | None = None, on_unused_input: str | None = None) -> Function:
    """Compile a callable computing ``outputs`` from ``inputs`` and applying ``updates``.

    Parameters
    ----------
    inputs : list of Variable
        The symbolic arguments, in call order (shared variables are implicit).
    outputs : Variable, list or dict of Variable, optional
        What a call returns: one array, a list, or a dict with the same keys.
    updates : list of (SharedVariable, Variable) pairs or OrderedDict, optional
        New values written to shared variables after every output and update is computed.
    givens : dict or list of pairs, optional
        Variables substituted in the graph before compiling (e.g. minibatch slices of data).
    no_default_updates : bool or list of SharedVariable, optional
        True: apply no shared variable's ``default_update``; a list: not those variables'.
    allow_input_downcast : bool, optional
        True: inputs are cast to their dtype even with precision loss; None: only Python floats
        are cast to floatX; False: no lossy casts.
    mode : str, optional
        'FAST_RUN' (default), 'FAST_COMPILE', 'DebugMode' (type checks), 'NanGuardMode'.
    profile : bool, optional
        Time every node; see ``f.profile.summary()``.
    on_unused_input : {'raise', 'warn', 'ignore'}
        What to do with an input that no output or update needs.
    """
    from symconv.backends import get_backend
    from symconv.rewrite import rewrite_graph
    spec = dict(inputs=inputs, outputs=outputs, mode=mode, updates=updates, givens=givens,
                name=name, allow_input_downcast=allow_input_downcast, profile=profile,
                on_unused_input=on_unused_input, no_default_updates=no_default_updates)
    on_unused_input = on_unused_input or config.on_unused_input
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got "
                         f"{on_unused_input!r}")
    if isinstance(inputs, (Variable, In)):
        raise TypeError("function() takes a list of input variables; wrap it: [x]")
    if any(isinstance(i, tuple) or getattr(i, "update", None) is not None for i in inputs):
        from symconv.stateful import as_in, stateful_function   # Theano's stateful inputs
        inputs = [as_in(i) for i in inputs]
        if any(isinstance(i, In) and i.update is not None for i in inputs):
            spec.pop("inputs")
            return stateful_function([i if isinstance(i, In) else In(i) for i in inputs],
                                     **spec)
    options = [i if isinstance(i, In) else None for i in inputs]
    inputs = [i.variable if isinstance(i, In) else i for i in inputs]
    for i, var in enumerate(inputs):
        if isinstance(var, SharedVariable):
            raise TypeError(f"input {i} ({var}) is a shared variable, which is an implicit "
                            f"input; to replace it, use givens")
        if isinstance(var, Constant) or not isinstance(var, Variable):
            raise TypeError(f"input {i} must be a symbolic variable (e.g. T.matrix()), got "
                            f"{var!r}")
        if var.owner is not None:
            raise TypeError(f"input {i} ({var}) is computed from other variables; inputs "
                            f"must be free variables (use givens to substitute expressions)")
        if any(var is other for other in inputs[:i]):
            raise ValueError(f"input {var} appears twice in the inputs")

    if outputs is None:
        out_kind, out_keys, out_list = "list", None, []
    elif isinstance(outputs, dict):
        out_kind, out_keys = "dict", list(outputs)
        out_list = [as_tensor_variable(_unwrap(outputs[k])) for k in out_keys]
    elif isinstance(outputs, (list, tuple)):
        out_kind, out_keys = "list", None
        out_list = [as_tensor_variable(_unwrap(o)) for o in outputs]
    else:
        out_kind, out_keys, out_list = "single", None, [as_tensor_variable(_unwrap(outputs))]

    update_pairs = _as_pairs(updates, "updates")
    targets, values = [], []
    for var, value in update_pairs:
        if any(var is t for t in targets):
            raise ValueError(f"shared variable {var} has two updates")
        values.append(_check_update(var, value))
        targets.append(var)
    _add_default_updates(out_list, targets, values, no_default_updates)

    replace = dict(_check_given(k, v) for k, v in _as_pairs(givens, "givens"))
    graph = clone_replace(out_list + values, replace) if replace else out_list + values

    leaves = graph_inputs(graph, inputs)
    input_ids = {id(v) for v in inputs}
    for leaf in leaves:
        if not (id(leaf) in input_ids or isinstance(leaf, (Constant, SharedVariable))):
            raise MissingInputError(
                f"the graph needs {leaf} ({leaf.type}, created at {leaf.trace}), which is not "
                f"among the function's inputs; add it to the inputs or give it a value with "
                f"givens")
    used = {id(v) for v in leaves}
    for i, var in enumerate(inputs):
        if id(var) not in used and on_unused_input != "ignore":
            message = (f"symconv.function was asked to create a function computing outputs "
                       f"given certain inputs, but input {i} ({var}) is not part of the "
                       f"computational graph needed to compute the outputs; to make this "
                       f"error a warning or silence it, pass on_unused_input='warn' or 'ignore'")
            if on_unused_input == "raise":
                raise UnusedInputError(message)
            warnings.warn(message, stacklevel=2)

    optimizer, instrument = _mode_settings(mode, bool(profile if profile is not None
                                                      else config.profile))
    graph = adopt_mode(rewrite_graph(graph, optimizer), mode)
    outs, ups = graph[:len(out_list)], graph[len(out_list):]
    shared_vars, seen = [], set()
    for var in graph_inputs(graph, inputs) + targets:
        if isinstance(var, SharedVariable) and id(var) not in seen:
            seen.add(id(var))
            shared_vars.append(var)
    backend = get_backend()
    if hasattr(mode, "wrap_backend"):   # MonitorMode: callbacks around every node
        backend = mode.wrap_backend(backend)
    program = Program(inputs, shared_vars, outs, ups, backend, instrument, targets)

    out_copy, update_copy = ownership(outs, ups, targets)
    input_specs = [_InputSpec(v, i, allow_input_downcast, o)
                   for i, (v, o) in enumerate(zip(inputs, options))]
    fn = Function(spec, program, input_specs, out_copy, out_kind, out_keys, targets,
                  update_copy, name)
    if program.inplace:
        fn._make_plain_program = lambda: Program(inputs, shared_vars, outs, ups, program.backend,
                                                 instrument, None)
    if fn.profile is not None:  # profile=True or the profile flag: Theano prints at exit
        fn.profile.print_at_exit()
    return fn
from symconv.shared import shared  # noqa: E402,F401  (theano.compile.shared)

# Theano's theano.compile is a package: its submodules are these modules, found through
# sys.modules (an empty __path__ lets import machinery and import hooks treat this module as a
# package), and its names below are importable from here
import sys as _sys  # noqa: E402
from symconv import io, mode, monitormode, python_ops  # noqa: E402
from symconv.mode import Mode, get_default_mode, get_mode  # noqa: E402,F401
from symconv.monitormode import MonitorMode  # noqa: E402,F401
__path__: list[str] = []
for _name, _module in (("io", io), ("mode", mode), ("monitormode", monitormode),
                       ("ops", python_ops), ("sharedvalue", _sys.modules["symconv.shared"])):
    _sys.modules.setdefault(f"symconv.compile.{_name}", _module)
