"""``T.nlinalg``: matrix_inverse, det, diag, trace, matrix_dot, ... (Theano's names)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable, as_tensor_variable
from symconv.ops import nlinalg as L
from symconv.tensor import basic as B
from symconv.tensor import more as M

matrix_inverse, det = L.matrix_inverse, L.det
trace = M.trace


def extract_diag(x: Any) -> Variable:
    """The main diagonal of the matrix ``x``."""
    return M.diagonal(x)


def alloc_diag(x: Any) -> Variable:
    """The square matrix with the vector ``x`` on its diagonal."""
    x = as_tensor_variable(x)
    return M.eye(x.shape[0], dtype=x.dtype) * B.shape_padleft(x)


def diag(x: Any) -> Variable:
    """The diagonal of a matrix, or the diagonal matrix of a vector (NumPy's diag)."""
    x = as_tensor_variable(x)
    if x.ndim == 1:
        return alloc_diag(x)
    if x.ndim == 2:
        return extract_diag(x)
    raise TypeError(f"diag: expected a vector or a matrix, got {x.type}")


def matrix_dot(*args: Any) -> Variable:
    """dot(args[0], dot(args[1], ...)) from the left."""
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = B.dot(out, a)
    return out


def matrix_power(M_: Any, n: int) -> Variable:
    """``M_`` multiplied by itself ``n`` times (n >= 0)."""
    M_ = as_tensor_variable(M_)
    if n < 0:
        raise ValueError("matrix_power: n must be >= 0")
    out = M.identity_like(M_)
    for _ in range(n):
        out = B.dot(out, M_)
    return out
