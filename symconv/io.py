"""Theano's wrappers for function() arguments: ``In`` (defaults, names, casting) and ``Out``."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable

_NO_VALUE = object()


class In:
    """An input of ``function`` with options (Theano's ``theano.In``).

    Parameters
    ----------
    variable : Variable
        The symbolic input.
    name : str, optional
        The keyword name the compiled function accepts (default: ``variable.name``).
    value : optional
        A default used when the call does not give this input.
    update : Variable, optional
        The input keeps state: after each call, its stored value (which ``value`` starts)
        becomes this expression's value (symconv.stateful).
    strict : bool
        True: the argument must already have the input's exact dtype (no conversion).
    allow_downcast : bool, optional
        As ``function(allow_input_downcast=)``, for this input only.
    borrow, mutable : bool
        Accepted for compatibility: symconv never overwrites or keeps an input array.
    """

    def __init__(self, variable: Variable, name: str | None = None, value: Any = _NO_VALUE,
                 update: Any = None, mutable: bool = False, strict: bool = False,
                 allow_downcast: bool | None = None, autoname: bool = True,
                 implicit: bool | None = None, borrow: bool = False,
                 shared: bool = False) -> None:
        if not isinstance(variable, Variable):
            raise TypeError(f"In() takes a symbolic variable, got {variable!r}")
        self.variable = variable
        # an input that keeps state: after each call its stored value becomes ``update``'s
        self.update = update
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.mutable, self.borrow = mutable, borrow

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_VALUE

    def __repr__(self) -> str:
        return f"In({self.variable!r})"


class Out:
    """An output of ``function`` (Theano's ``theano.Out``); ``borrow=True`` is accepted:
    symconv returns arrays the caller owns in every case."""

    def __init__(self, variable: Variable, borrow: bool = False) -> None:
        self.variable = variable
        self.borrow = borrow

    def __repr__(self) -> str:
        return f"Out({self.variable!r})"
