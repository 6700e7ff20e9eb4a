"""Inputs that keep state between calls (Theano's ``In(x, value=v, update=expr)``) and the
input shortcuts of ``function`` (``(x, value)``, ``((x, update), value)``, ``(name, x, value)``).

A function with such inputs is a plain compiled Function over every input, which also returns
the update values, wrapped by ``StatefulFunction``: it fills omitted arguments from each input's
container, stores the update values back into them after the call, and gives Theano's access
to the stored values (``fn['s']``, ``fn[s]``, ``fn.value[s]``, ``fn.container[s].value``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from symconv.graph import Variable
from symconv.io import In
from symconv.values import filter_value


def as_in(item: Any) -> Any:
    """One element of ``function``'s inputs with Theano's shortcuts made ``In`` objects."""
    if not isinstance(item, tuple):
        return item
    if len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], Variable):
        return In(item[1], name=item[0])
    if len(item) == 2:
        target, value = item
        if isinstance(target, tuple):
            return In(target[0], value=value, update=target[1])
        return In(target, value=value)
    if len(item) == 3 and isinstance(item[0], str):
        name, target, value = item
        if isinstance(target, tuple):
            return In(target[0], name=name, value=value, update=target[1])
        return In(target, name=name, value=value)
    raise TypeError(f"function(): cannot read the input {item!r}; use In(variable, name=, "
                    f"value=, update=)")


class InputContainer:
    """The stored value of one input (its default, or its state when it has an update)."""

    __slots__ = ("variable", "value", "allow_downcast")

    def __init__(self, variable: Variable, value: Any, allow_downcast: bool | None) -> None:
        self.variable, self.allow_downcast = variable, allow_downcast
        self.value = None
        self.set(value)

    def set(self, value: Any) -> None:
        try:
            self.value = filter_value(self.variable.type, value,
                                      allow_downcast=self.allow_downcast)
        except (TypeError, ValueError) as err:
            raise TypeError(f"the stored value of input {self.variable}: {err}") from None


class _View:
    """``fn.value`` / ``fn.container``: look-up by position, name or variable."""

    def __init__(self, fn: "StatefulFunction", containers: bool) -> None:
        self._fn, self._containers = fn, containers

    def __getitem__(self, key: Any) -> Any:
        container = self._fn.container_of(key)
        return container if self._containers else container.value

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._containers:
            raise TypeError("fn.container is read-only; assign through fn.value[key] or fn[key]")
        self._fn.container_of(key).set(value)


class StatefulFunction:
    """A compiled function whose inputs may keep state (see the module docstring)."""

    def __init__(self, inner: Any, options: Sequence[In], n_outputs: int, out_kind: str,
                 out_keys: Sequence[Any] | None, allow_downcast: bool | None) -> None:
        self.inner = inner
        self.options = list(options)
        self.n_outputs, self.out_kind, self.out_keys = n_outputs, out_kind, out_keys
        self.containers = [InputContainer(o.variable, o.value, o.allow_downcast
                                          if o.allow_downcast is not None else allow_downcast)
                           if o.has_default else None for o in self.options]
        self.stateful = [i for i, o in enumerate(self.options) if o.update is not None]
        self.value = _View(self, containers=False)
        self.container = _View(self, containers=True)

    def container_of(self, key: Any) -> InputContainer:
        """The container of an input given by position, name or variable."""
        for i, option in enumerate(self.options):
            if key is option.variable or (isinstance(key, str) and key == option.name) or (
                    isinstance(key, (int, np.integer)) and not isinstance(key, bool)
                    and key == i):
                if self.containers[i] is None:
                    raise KeyError(f"input {key!r} has no stored value (give it In(value=...))")
                return self.containers[i]
        raise KeyError(f"no input {key!r} in this function")

    def __getitem__(self, key: Any) -> Any:
        return self.container_of(key).value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.container_of(key).set(value)

    def _arguments(self, args: tuple, kwargs: dict) -> list:
        if len(args) > len(self.options):
            raise TypeError(f"Too many parameter passed to theano function: {len(args)} given, "
                            f"{len(self.options)} inputs")
        values: list = list(args) + [_MISSING] * (len(self.options) - len(args))
        names = {o.name: i for i, o in enumerate(self.options) if o.name}
        for key, value in kwargs.items():
            if key not in names:
                unnamed = sum(1 for o in self.options if not o.name)
                raise TypeError(f"Unknown input or state: {key}. The function has {len(names)} "
                                f"named inputs ({', '.join(names)}), and {unnamed} unnamed "
                                f"inputs which thus cannot be accessed through keyword argument "
                                f"(use 'name=...' in a variable's constructor to give it a name).")
            if names[key] < len(args):
                raise TypeError(f"input {key!r} was given twice (by position and by name)")
            values[names[key]] = value
        for i, value in enumerate(values):
            if value is _MISSING:
                if self.containers[i] is None:
                    option = self.options[i]
                    raise TypeError(f"Missing required input: {option.name or option.variable}")
                values[i] = self.containers[i].value
        return values

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        results = self.inner(*self._arguments(args, kwargs))
        outs, states = results[:self.n_outputs], results[self.n_outputs:]
        for i, value in zip(self.stateful, states):
            if self.containers[i] is None:   # a state without an initial value: given now
                self.containers[i] = InputContainer(self.options[i].variable, value, True)
            self.containers[i].value = value
        if self.out_kind == "single":
            return outs[0]
        if self.out_kind == "dict":
            return dict(zip(self.out_keys, outs))
        return outs

    @property
    def maker(self) -> Any:
        return self.inner.maker

    @property
    def program(self) -> Any:
        """The compiled program (its outputs, then the update values of the states)."""
        return self.inner.program

    @property
    def profile(self) -> Any:
        return self.inner.profile

    def __repr__(self) -> str:
        return "<symconv.Function with state>"


_MISSING = object()


def stateful_function(options: Sequence[In], outputs: Any, **kwargs: Any) -> StatefulFunction:
    """``function`` for inputs among which some keep state (``In(update=...)``)."""
    from symconv.compile import function
    if isinstance(outputs, dict):
        out_kind, out_keys, out_list = "dict", list(outputs), list(outputs.values())
    elif isinstance(outputs, (list, tuple)):
        out_kind, out_keys, out_list = "list", None, list(outputs)
    elif outputs is None:
        out_kind, out_keys, out_list = "list", None, []
    else:
        out_kind, out_keys, out_list = "single", None, [outputs]
    plain = [In(o.variable, name=o.name, strict=o.strict, allow_downcast=o.allow_downcast)
             for o in options]
    updates = [o.update for o in options if o.update is not None]
    inner = function(plain, out_list + updates, **kwargs)
    return StatefulFunction(inner, options, len(out_list), out_kind, out_keys,
                            kwargs.get("allow_input_downcast"))
