"""Theano's ``Generic`` type: shared variables holding any Python object (``shared({'a': 1})``).

Such a variable has no operators; it can be a function's output, be replaced through
``givens`` and be the target of an update (with another generic variable or a plain value),
as in Theano. Copies follow Theano's: ``shared(obj)`` holds ``obj`` itself, ``get_value()`` and
``set_value`` deep-copy, a function's output is ``obj.copy()`` (deepcopy without a ``copy``).
"""
from __future__ import annotations

import copy
from typing import Any

from symconv.graph import Constant, SharedVariable, Variable


class GenericType:
    """The type of a variable holding an arbitrary Python object (Theano's ``Generic``)."""

    __slots__ = ()
    dtype = "object"
    ndim = 0
    shape: tuple = ()
    broadcastable: tuple = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenericType)

    def __hash__(self) -> int:
        return hash("generic")

    def __call__(self, name: str | None = None) -> Variable:
        return Variable(self, None, name)

    def __str__(self) -> str:
        return "Generic"

    __repr__ = __str__

    def value_error(self, value: Any) -> str | None:
        return None

    def filter(self, value: Any, strict: bool = False,
               allow_downcast: bool | None = None) -> Any:
        return value

    def make_constant(self, value: Any) -> "GenericConstant":
        """A constant of this type holding ``value`` (an update or a given written as a value)."""
        return GenericConstant(self, value)


generic = GenericType()


class GenericConstant(Constant):
    """A fixed Python object in a graph (never folded, merged by identity)."""

    __slots__ = ()

    def __init__(self, type: GenericType, data: Any, name: str | None = None) -> None:
        Variable.__init__(self, type, None, name)
        self.data = data

    def signature(self) -> tuple:
        return (self.type, id(self.data))

    def __repr__(self) -> str:
        return self.name or f"GenericConstant{{{self.data!r:.40}}}"

    __str__ = __repr__


class GenericContainer:
    """Holds a generic shared value (on the host; Theano copies it with deepcopy)."""

    __slots__ = ("value", "type", "backend", "allow_downcast")

    def __init__(self, value: Any) -> None:
        from symconv.backends import get_backend
        self.type, self.value, self.allow_downcast = generic, value, None
        self.backend = get_backend("cpu")

    def get(self, borrow: bool, return_internal_type: bool) -> Any:
        return self.value if borrow else copy.deepcopy(self.value)

    def set(self, value: Any, borrow: bool, var: SharedVariable) -> None:
        self.value = value if borrow else copy.deepcopy(value)


def generic_shared(value: Any, name: str | None = None, borrow: bool = False,
                   **kwargs: Any) -> SharedVariable:
    """A shared variable holding a Python object that is not an array of numbers."""
    var = SharedVariable(generic, None, name)
    var.container = GenericContainer(value)   # as Theano: held, not copied
    var.default_update = None
    return var
