"""``T.slinalg``: solve (the general solver; Theano's A_structure hints are accepted)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable
from symconv.ops import nlinalg as L


def solve(a: Any, b: Any) -> Variable:
    """x with dot(a, x) == b, for a square matrix a and a vector or matrix b."""
    return L.solve(a, b)
