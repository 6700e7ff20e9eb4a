"""Reverse-mode differentiation over the graph, and finite differences (numeric_grad).

``verify_grad`` compiles functions, so it lives above compile in symconv.verify; it is also
reachable here as ``symconv.gradient.verify_grad`` once symconv is imported.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from symconv.graph import (DISCRETE_DTYPES, Op, TensorType, Variable, as_tensor_variable,
                           constant, toposort)


class DisconnectedInputError(ValueError):
    """grad was asked for the gradient of a variable the cost does not depend on."""


class GradientError(Exception):
    """verify_grad found a symbolic gradient that disagrees with finite differences."""

    def __init__(self, arg: int, err_pos: tuple, shape: tuple, val1: float, val2: float,
                 abs_err: float, rel_err: float, abs_tol: float, rel_tol: float) -> None:
        super().__init__(
            f"gradient of input {arg} (shape {shape}) disagrees with finite differences at "
            f"index {err_pos}: symbolic {val1!r} vs numeric {val2!r} (abs error {abs_err:.3g} > "
            f"{abs_tol:.3g} and rel error {rel_err:.3g} > {rel_tol:.3g})")
        self.arg, self.err_pos, self.abs_err, self.rel_err = arg, err_pos, abs_err, rel_err
        self.val1, self.val2 = val1, val2


def _identity_kernel(xp: Any, x: Any) -> Any:
    return x


disconnected_grad = Op("disconnected_grad", lambda t: t, _identity_kernel,
                       lambda g, out, x: [None], view=True,
                       doc="Identity whose gradient is cut (no gradient flows to x).")
zero_grad = disconnected_grad


def _zeros_for(var: Variable) -> Variable:
    from symconv.config import config
    from symconv.ops.shape import filled_like
    dtype = config.floatX if var.dtype in DISCRETE_DTYPES else var.dtype
    return filled_like(var, dtype=dtype, value=0)


def unbroadcast(g: Variable, x: Variable) -> Variable:
    """``g`` summed back to ``x``'s shape over the axes that broadcasting added or stretched."""
    from symconv.ops.elemwise import cast
    from symconv.ops.reduce import reduce_sum
    if hasattr(g.type, "cast"):   # a sparse gradient (symconv.sparse): its own cast
        return g if g.dtype == x.dtype or x.dtype in DISCRETE_DTYPES else g.type.cast(g, x.dtype)
    if g.ndim > x.ndim:
        g = reduce_sum(g, axis=tuple(range(g.ndim - x.ndim)))
    axes = tuple(a for a in range(x.ndim) if x.type.shape[a] == 1 and g.type.shape[a] != 1)
    if axes:
        g = reduce_sum(g, axis=axes, keepdims=True)
    if g.dtype != x.dtype and x.dtype not in DISCRETE_DTYPES:
        g = cast(g, x.dtype)
    return g


def _add_all(terms: list[Variable]) -> Variable:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _expansion_grads(node: Any, g: Variable) -> list[Variable | None]:
    """Gradients of a node whose op has no rule of its own: those of its expansion (op.expand)
    into ordinary ops, seeded with ``g``; a repeated input gets its whole gradient once."""
    expanded = node.op.expand(*node.inputs, **node.kw)
    wrt, seen = [], set()
    for inp in node.inputs:
        if inp.dtype not in DISCRETE_DTYPES and id(inp) not in seen:
            seen.add(id(inp))
            wrt.append(inp)
    grads = dict(zip(map(id, wrt), grad(None, wrt, known_grads={expanded: g},
                                        disconnected_inputs="ignore",
                                        return_disconnected="None"))) if wrt else {}
    return [grads.pop(id(inp), None) for inp in node.inputs]


def grad(cost: Variable | None, wrt: Variable | Sequence[Variable],
         consider_constant: Sequence[Variable] | None = None,
         disconnected_inputs: str = "raise", add_names: bool = True,
         known_grads: dict | None = None, return_disconnected: str = "zero",
         null_gradients: str = "raise") -> Variable | list[Variable | None]:
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    The gradient is that of the graph as written, the same whatever the flags or mode: no
    rewrite runs here. Numerical stability (softmax cross-entropy, log-sigmoid, log-sum-exp
    backward forms) is the stabilize phase's work when the function is compiled.

    Parameters
    ----------
    cost : scalar Variable or None
        The expression to differentiate; None when ``known_grads`` seeds the walk.
    wrt : Variable or list of Variable
        Returns a single gradient for a single variable, a list for a list.
    consider_constant : list of Variable, optional
        Variables whose inputs receive no gradient through them.
    disconnected_inputs : {'raise', 'warn', 'ignore'}
        What to do when ``cost`` does not depend on an element of ``wrt``.
    known_grads : dict, optional
        Gradients already known for some variables (``{var: gradient}``).
    return_disconnected : {'zero', 'None', 'Disconnected'}
        What a disconnected input's gradient is.
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore', got "
                         f"{disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError("return_disconnected must be 'zero', 'None' or 'Disconnected', got "
                         f"{return_disconnected!r}")
    single = isinstance(wrt, Variable)
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be symbolic variables, got {type(w).__name__}")
    seeds: dict[int, list[Variable]] = {}
    roots: list[Variable] = []
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar, got {cost} of type {cost.type}")
        # a discrete cost is a step function: its gradient is zero wherever it is connected
        seeds[id(cost)] = [constant(1 if cost.dtype not in DISCRETE_DTYPES else 0,
                                    dtype=_grad_dtype(cost))]
        roots.append(cost)
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ValueError(f"grad: known gradient of {var} has {g.ndim} dimensions, "
                             f"expected {var.ndim}")
        seeds.setdefault(id(var), []).append(g)
        roots.append(var)
    if not roots:
        raise ValueError("grad: give a cost or known_grads")

    blockers = list(consider_constant or [])
    order = toposort(roots, blockers)
    reach = {id(w) for w in wrt_list}
    for node in order:
        if any(id(i) in reach for i in node.inputs):
            reach.add(id(node.out))

    acc = seeds
    for node in reversed(order):
        out = node.out
        if id(out) not in reach or id(out) not in acc or \
                (node.op.grad is None and node.op.expand is None):
            continue
        if out.dtype in DISCRETE_DTYPES:   # a step function: no gradient flows back
            continue
        sum_grads = getattr(node.op, "sum_grads", None)   # ops taking each output's seed
        g = sum_grads(acc[id(out)]) if sum_grads is not None else _add_all(acc[id(out)])
        if node.op.grad is not None:
            in_grads = node.op.grad(g, out, *node.inputs, **node.kw)
        else:
            in_grads = _expansion_grads(node, g)
        if len(in_grads) != len(node.inputs):
            raise RuntimeError(f"gradient rule of {node.op.name} returned {len(in_grads)} "
                               f"gradients for {len(node.inputs)} inputs")
        for inp, ig in zip(node.inputs, in_grads):
            if ig is None or id(inp) not in reach:
                continue
            acc.setdefault(id(inp), []).append(unbroadcast(as_tensor_variable(ig), inp))

    connected = _connected(roots, blockers)
    results: list[Variable | None] = []
    for w in wrt_list:
        if id(w) in acc:
            g = _add_all(acc[id(w)])
            if add_names and w.name and g.name is None and cost is not None:
                g.name = f"(d{cost.name or 'cost'}/d{w.name})"
            results.append(g)
            continue
        if id(w) not in connected:
            message = (f"grad was asked for the gradient with respect to {w} ({w.type}, created "
                       f"at {w.trace}), which is not part of the computational graph of the "
                       f"cost, or is used only by a non-differentiable operator")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    message + "; pass disconnected_inputs='ignore' to get a zero gradient")
            if disconnected_inputs == "warn":
                warnings.warn(message, stacklevel=2)
            if return_disconnected != "zero":
                results.append(None)
                continue
        results.append(_zeros_for(w))
    return results[0] if single else results


def _grad_dtype(var: Variable) -> str:
    from symconv.config import config
    return config.floatX if var.dtype in DISCRETE_DTYPES else var.dtype


def _connected(roots: list[Variable], blockers: list[Variable]) -> set[int]:
    """ids of the variables the roots depend on through ops that pass gradients (Theano's
    connection: disconnected_grad cuts it, an argmax or int cast does not)."""
    seen: set[int] = set()
    stack = list(roots)
    blocked = {id(b) for b in blockers}
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        node = var.owner
        if node is None or id(var) in blocked or node.op is disconnected_grad:
            continue
        stack.extend(node.inputs)
    return seen


# ---- verify_grad ---------------------------------------------------------------------------


def numeric_grad(f: Callable[..., float], pt: list[np.ndarray], eps: float) -> list[np.ndarray]:
    """Central finite differences of the scalar function ``f`` at ``pt``."""
    grads = []
    for arg in range(len(pt)):
        point = [p.copy() for p in pt]
        g = np.zeros(pt[arg].shape, dtype="float64")
        flat, gflat = point[arg].reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            plus = float(f(*point))
            flat[i] = orig - eps
            minus = float(f(*point))
            flat[i] = orig
            gflat[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


# ---- Lop, Rop (jacobian and hessian compile functions: symconv.verify) --------------------


def Lop(f: Variable | Sequence[Variable], wrt: Variable | Sequence[Variable],
        eval_points: Variable | Sequence[Variable], consider_constant: Any = None,
        disconnected_inputs: str = "raise") -> Variable | list[Variable]:
    """Vector-Jacobian product: the gradient of ``sum(f * eval_points)`` with respect to wrt."""
    fs = [f] if isinstance(f, Variable) else list(f)
    points = [eval_points] if isinstance(eval_points, Variable) or not isinstance(
        eval_points, (list, tuple)) else list(eval_points)
    known = {out: as_tensor_variable(p) for out, p in zip(fs, points)}
    return grad(None, wrt, consider_constant=consider_constant, known_grads=known,
                disconnected_inputs=disconnected_inputs)


def Rop(f: Variable | Sequence[Variable], wrt: Variable | Sequence[Variable],
        eval_points: Variable | Sequence[Variable]) -> Variable | list[Variable]:
    """Jacobian-vector product ``J(f, wrt) . eval_points``, by differentiating the (linear)
    vector-Jacobian product with respect to its vector."""
    from symconv.graph import clone_replace
    from symconv.ops.shape import filled_like
    single_f = isinstance(f, Variable)
    fs = [f] if single_f else list(f)
    wrts = [wrt] if isinstance(wrt, Variable) else list(wrt)
    points = [eval_points] if isinstance(eval_points, Variable) or not isinstance(
        eval_points, (list, tuple)) else list(eval_points)
    us = [Variable(TensorType(out.dtype if out.dtype not in DISCRETE_DTYPES else "float64",
                              out.type.shape), None, "u") for out in fs]
    vjps = Lop(fs, wrts, us, disconnected_inputs="ignore")
    known = {v: as_tensor_variable(p) for v, p in zip(vjps, points)}
    jvps = grad(None, us, known_grads=known, disconnected_inputs="ignore")
    # the product is linear in u, so u is absent or multiplied by zero: put zeros in its place
    jvps = clone_replace(jvps, {u: filled_like(out, dtype=u.dtype, value=0)
                                for u, out in zip(us, fs)})
    # keep wrt in the graph as Theano's R_op does (a function of [W, V, x] computing
    # Rop(dot(x, W), W, V) is not refused for an unused W); the rewrites drop 0 * sum(w)
    from symconv.ops.reduce import reduce_sum
    anchor = _add_all([reduce_sum(w) for w in wrts if w.dtype not in DISCRETE_DTYPES])
    jvps = [j + constant(0, dtype=j.dtype) * anchor.astype(j.dtype) for j in jvps]
    return jvps[0] if single_f else jvps


def consider_constant(x: Any) -> Variable:
    """``x`` with a zero gradient (Theano's gradient.consider_constant)."""
    from symconv.ops.extra import consider_constant_op
    return consider_constant_op(x)
