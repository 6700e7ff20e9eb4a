"""``T.xlogx``: x * log(x) and x * log(y) with the value 0 where x is 0 (Theano's xlogx)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable, as_tensor_variable
from symconv.tensor import basic as B


def xlogx(x: Any) -> Variable:
    """x * log(x), 0 where x == 0."""
    x = as_tensor_variable(x)
    return B.switch(B.eq(x, 0), 0, x * B.log(x))


def xlogy0(x: Any, y: Any) -> Variable:
    """x * log(y), 0 where x == 0."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    return B.switch(B.eq(x, 0), 0, x * B.log(y))
