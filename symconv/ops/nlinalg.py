"""Linear algebra ops: matrix inverse, determinant, solve (NumPy's kernels, closed-form grads)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Op, TensorType, Variable
from symconv.ops.elemwise import upgrade_to_float


def _square(name: str):
    def infer(t: TensorType) -> TensorType:
        if t.ndim != 2 or (None not in t.shape and t.shape[0] != t.shape[1]):
            raise TypeError(f"{name}: expected a square matrix, got {t}")
        return TensorType(upgrade_to_float(t.dtype), t.shape)
    return infer


def _inv_kernel(xp: Any, a: Any) -> Any:
    return xp.linalg.inv(a).astype(upgrade_to_float(a.dtype.name), copy=False)


def _inv_grad(g: Variable, out: Variable, a: Variable) -> list:
    # d inv(A) = -inv(A) dA inv(A): the adjoint is -inv(A).T g inv(A).T
    from symconv.ops.linalg import dot
    return [-dot(dot(out.T, g), out.T)]


matrix_inverse = Op("matrix_inverse", _square("matrix_inverse"), _inv_kernel, _inv_grad)


def _det_infer(t: TensorType) -> TensorType:
    _square("det")(t)
    return TensorType(upgrade_to_float(t.dtype), ())


def _det_kernel(xp: Any, a: Any) -> Any:
    return xp.asarray(xp.linalg.det(a), dtype=upgrade_to_float(a.dtype.name))


def _det_grad(g: Variable, out: Variable, a: Variable) -> list:
    # d det(A) / dA = det(A) inv(A).T
    return [g * out * matrix_inverse(a).T]


det = Op("det", _det_infer, _det_kernel, _det_grad)


def _solve_infer(a: TensorType, b: TensorType) -> TensorType:
    _square("solve")(a)
    if b.ndim not in (1, 2):
        raise TypeError(f"solve: b must be a vector or a matrix, got {b}")
    from symconv.ops.elemwise import upcast
    return TensorType(upgrade_to_float(upcast(a.dtype, b.dtype)), (a.shape[0],) + b.shape[1:])


def _solve_kernel(xp: Any, a: Any, b: Any) -> Any:
    from symconv.ops.elemwise import upcast
    return xp.linalg.solve(a, b).astype(upgrade_to_float(upcast(a.dtype.name, b.dtype.name)),
                                        copy=False)


def _solve_grad(g: Variable, out: Variable, a: Variable, b: Variable) -> list:
    # x = A^-1 b: b_bar = solve(A.T, g), A_bar = -b_bar x.T
    from symconv.ops.linalg import dot
    from symconv.ops.shape import dimshuffle
    b_bar = solve(a.T, g)
    if b.ndim == 1:
        a_bar = -dimshuffle(b_bar, pattern=(0, "x")) * dimshuffle(out, pattern=("x", 0))
    else:
        a_bar = -dot(b_bar, out.T)
    return [a_bar, b_bar]


solve = Op("solve", _solve_infer, _solve_kernel, _solve_grad)
