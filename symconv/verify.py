"""Gradient tools that compile functions, so they sit above compile: verify_grad (a symbolic
gradient against finite differences along random projections), jacobian and hessian. Theano's
names symconv.gradient.verify_grad / jacobian / hessian are kept by binding them there."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from symconv import gradient
from symconv.compile import function
from symconv.gradient import Lop, GradientError, _grad_dtype, grad, numeric_grad
from symconv.graph import (Constant, Op, SharedVariable, TensorType, Variable,
                           as_tensor_variable, graph_inputs)
from symconv.shared import shared

_EPS = {"float64": 1e-6, "float32": 1e-3, "float16": 1e-1}
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


def verify_grad(fun: Callable[..., Variable], pt: Sequence[Any], n_tests: int = 2,
                rng: Any = None, eps: float | None = None, out_type: Any = None,
                abs_tol: float | None = None, rel_tol: float | None = None,
                mode: Any = None, cast_to_output_type: bool = False) -> None:
    """Check ``grad`` of ``fun`` against finite differences along random projections.

    Raises GradientError when, for some element, both the absolute and the relative error
    exceed their tolerances.
    """
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.kind != "f":
            raise TypeError(f"verify_grad: point {i} must be a float array, got {p.dtype}")
    rng = rng if rng is not None else np.random.default_rng(42)
    def rand(shape: tuple) -> np.ndarray:
        return rng.random(shape) if hasattr(rng, "integers") else rng.rand(*shape)
    # size-1 axes of the test point are broadcastable, as in Theano's verify_grad
    inputs = [Variable(TensorType(p.dtype, tuple(1 if s == 1 else None for s in p.shape)),
                       name=f"input {i}") for i, p in enumerate(pt)]
    out = as_tensor_variable(fun(*inputs))
    dtype = out.dtype if out.dtype in _EPS else "float64"
    worst = min((p.dtype.name for p in pt), key=lambda d: _EPS.get(d, 1e-6), default="float64")
    eps = eps if eps is not None else _EPS.get(worst, 1e-6)
    abs_tol = abs_tol if abs_tol is not None else _TOL.get(worst, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else _TOL.get(worst, 1e-4)
    out_shape = function(inputs, out, mode=mode, on_unused_input="ignore")(*pt).shape
    for _ in range(n_tests):
        projection = shared(np.asarray(rand(out_shape) + 0.5, dtype=dtype))
        cost = (projection * out).sum()
        cost_fn = function(inputs, cost, mode=mode, on_unused_input="ignore")
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        analytic = function(inputs, grads, mode=mode, on_unused_input="ignore")(*pt)
        numeric = numeric_grad(cost_fn, [p.astype("float64") if p.dtype == "float64" else p
                                         for p in pt], eps)
        for arg, (a, n) in enumerate(zip(analytic, numeric)):
            a = np.asarray(a, dtype="float64")
            abs_err = np.abs(a - n)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if bad.any():
                pos = np.unravel_index(int(np.argmax(np.where(bad, abs_err, -1))), a.shape)
                raise GradientError(arg, tuple(int(i) for i in pos), a.shape, float(a[pos]),
                                    float(n[pos]), float(abs_err[pos]), float(rel_err[pos]),
                                    abs_tol, rel_tol)


verify_grad.E_grad = GradientError  # Theano's spelling
# Theano's path, symconv.gradient.verify_grad: this module sits above gradient, so it is the one
# that puts the name there (symconv/__init__ imports this module).
gradient.verify_grad = verify_grad


# ---- jacobian, hessian: each Jacobian row is a compiled vector-Jacobian product -------------


def _jacobian_kernel(xp: Any, n: Any, *values: Any, inner: Any) -> Any:
    rows = []
    count = int(n)
    for i in range(count):
        seed = np.zeros(count, dtype=inner.seed_dtype)
        seed[i] = 1
        rows.append(np.asarray(inner.fn(*values, seed)))
    if not rows:   # an empty vector: no rows, each of the shape of wrt
        empty = np.asarray(inner.fn(*values, np.zeros(0, dtype=inner.seed_dtype)))
        return np.zeros((0,) + empty.shape, dtype=inner.out_dtype)
    return np.stack(rows)


class _InnerVJP:
    """One row of a Jacobian: a compiled vector-Jacobian product (hashable by identity)."""

    def __init__(self, inputs: list[Variable], seed: Variable, out: Variable) -> None:
        self.inputs, self.seed_var, self.out = inputs, seed, out
        self.seed_dtype, self.out_dtype = seed.dtype, out.dtype
        self._fn = None

    @property
    def fn(self) -> Any:
        if self._fn is None:
            self._fn = function(self.inputs + [self.seed_var], self.out,
                                on_unused_input="ignore")
        return self._fn


def _jacobian_infer(n: TensorType, *values: TensorType, inner: Any) -> TensorType:
    return TensorType(inner.out_dtype, (None,) + tuple(inner.out.type.shape))


jacobian_rows = Op("jacobian_rows", _jacobian_infer, _jacobian_kernel, None,
                   doc="Jacobian of a vector: one compiled vector-Jacobian product per row.")


def jacobian(expression: Variable, wrt: Variable | Sequence[Variable],
             consider_constant: Any = None, disconnected_inputs: str = "raise"
             ) -> Variable | list[Variable]:
    """d expression[i] / d wrt, one row per element of the vector ``expression`` (Theano's
    jacobian; each row is a vector-Jacobian product, computed when the function runs)."""
    expression = as_tensor_variable(expression)
    single = isinstance(wrt, Variable)
    wrts = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        out = grad(expression, wrts, consider_constant=consider_constant,
                   disconnected_inputs=disconnected_inputs)
        return out[0] if single else out
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression must be a vector, got {expression.type}")
    seed = Variable(TensorType(_grad_dtype(expression), expression.type.shape), None, "seed")
    rows = Lop(expression, wrts, seed, consider_constant=consider_constant,
               disconnected_inputs=disconnected_inputs)
    results = []
    for w, row in zip(wrts, rows):
        ins = [v for v in graph_inputs([row, expression]) if v is not seed
               and not isinstance(v, (Constant, SharedVariable))]
        inner = _InnerVJP(ins, seed, row)
        results.append(jacobian_rows(expression.shape[0], *ins, inner=inner))
    return results[0] if single else results


def hessian(cost: Variable, wrt: Variable | Sequence[Variable], consider_constant: Any = None,
            disconnected_inputs: str = "raise") -> Variable | list[Variable]:
    """The matrix of second derivatives of the scalar ``cost`` for each vector in ``wrt``."""
    single = isinstance(wrt, Variable)
    wrts = [wrt] if single else list(wrt)
    out = [jacobian(grad(cost, w, consider_constant=consider_constant,
                         disconnected_inputs=disconnected_inputs), w,
                    disconnected_inputs=disconnected_inputs) for w in wrts]
    return out[0] if single else out


# Theano's paths, symconv.gradient.jacobian / hessian, bound as verify_grad is above.
gradient.jacobian = jacobian
gradient.hessian = hessian
