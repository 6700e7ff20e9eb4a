"""Shared variables: values that persist across calls and live on the configured device."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from symconv.graph import DTYPES, SharedVariable, TensorType
from symconv.values import filter_value


class Container:
    """Holds a shared variable's value (a NumPy array, or a device array on the GPU)."""

    __slots__ = ("value", "type", "backend", "allow_downcast")

    def __init__(self, type: TensorType, value: Any, backend: Any,
                 allow_downcast: bool | None) -> None:
        self.type = type
        self.backend = backend
        self.allow_downcast = allow_downcast
        self.value = value

    def get(self, borrow: bool, return_internal_type: bool) -> Any:
        value = self.value
        if self.backend.is_host:
            return value if borrow else value.copy()
        if borrow and return_internal_type:
            return value
        return self.backend.to_host(value)

    def set(self, value: Any, borrow: bool, var: SharedVariable) -> None:
        if not self.backend.is_host and self.backend.is_device_array(value):
            if value.dtype.name != self.type.dtype or value.ndim != self.type.ndim:
                raise TypeError(f"set_value of {var}: expected a {self.type}, got a device array "
                                f"of dtype {value.dtype} and shape {value.shape}")
            self.value = value if borrow else value.copy()
            return
        try:
            arr = filter_value(self.type, value, allow_downcast=self.allow_downcast)
        except TypeError as err:
            raise TypeError(f"set_value of shared variable {var}: {err}") from None
        if arr is value and not borrow:
            arr = arr.copy()
        self.value = self.backend.to_device(arr)

    def __getstate__(self) -> dict:
        return {"type": self.type, "value": self.backend.to_host(self.value),
                "allow_downcast": self.allow_downcast}

    def __setstate__(self, state: dict) -> None:
        from symconv.backends import backend_for
        self.type = state["type"]
        self.allow_downcast = state["allow_downcast"]
        self.backend = backend_for(self.type.dtype)
        self.value = self.backend.to_device(state["value"])


# constructors tried first by shared(): each returns a shared variable or None (not its kind)
shared_constructors: list[Callable[..., SharedVariable | None]] = []


def _as_array(value: Any, borrow: bool) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value if borrow else np.array(value)
    try:
        return np.array(value)
    except (ValueError, TypeError):   # ragged lists and other objects NumPy cannot hold
        return None


def shared(value: Any, name: str | None = None, strict: bool = False,
           allow_downcast: bool | None = None, borrow: bool = False,
           broadcastable: Sequence[bool] | None = None,
           shape: Sequence[int | None] | None = None) -> SharedVariable:
    """A shared variable holding ``value`` (copied unless ``borrow=True``).

    As in Theano, no axis is broadcastable unless ``broadcastable`` (or a static ``shape``) says
    so, so the value can change shape through ``set_value``.
    """
    from symconv.backends import backend_for
    if isinstance(value, SharedVariable):
        raise TypeError("shared() got a shared variable; pass its get_value()")
    for make in shared_constructors:   # other kinds of values (SciPy sparse matrices)
        var = make(value, name=name, strict=strict, allow_downcast=allow_downcast,
                   borrow=borrow)
        if var is not None:
            return var
    backend = backend_for(None)
    if backend.is_device_array(value):
        host = backend.to_host(value)
    else:
        host = _as_array(value, borrow)
    if host is None or host.dtype == object or host.dtype.name not in DTYPES:
        # as Theano: any other Python object is held by a generic shared variable
        from symconv.generic import generic_shared
        return generic_shared(value, name=name, borrow=borrow)
    if shape is None:
        shape = (tuple(1 if b else None for b in broadcastable) if broadcastable is not None
                 else (None,) * host.ndim)
    type_ = TensorType(host.dtype, shape)
    error = type_.value_error(host)
    if error is not None:
        raise ValueError(f"shared variable {name or ''}: {error}")
    backend = backend_for(type_.dtype)
    if backend.is_device_array(value):
        stored = value if borrow else value.copy()
    else:
        stored = backend.to_device(host)
    var = SharedVariable(type_, None, name)
    var.container = Container(type_, stored, backend, allow_downcast)
    var.default_update = None
    return var
