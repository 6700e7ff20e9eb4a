"""``T.nnet.bn``: batch normalization for training and inference (Theano's formulas)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable, as_tensor_variable
from symconv.tensor import basic as B


def _axes(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0,) + tuple(range(2, ndim))
    return tuple(sorted(int(a) % ndim for a in axes))


def batch_normalization_train(inputs: Any, gamma: Any, beta: Any, axes: Any = "per-activation",
                              epsilon: float = 1e-4, running_average_factor: float = 0.1,
                              running_mean: Any = None, running_var: Any = None) -> tuple:
    """(out, mean, invstd[, new running mean, new running var]) over ``axes`` of a batch;
    mean and invstd keep the reduced axes (size 1), as gamma and beta are shaped."""
    x = as_tensor_variable(inputs)
    axes = _axes(axes, x.ndim)
    gamma, beta = as_tensor_variable(gamma), as_tensor_variable(beta)
    # parameters without the reduced axes (gamma of shape (k,)): statistics come back so too
    squeezed = gamma.ndim == x.ndim - len(axes)
    kept = [a for a in range(x.ndim) if a not in axes]

    def full(p: Any) -> Variable:
        p = as_tensor_variable(p)
        if not squeezed or p.ndim == x.ndim:
            return p
        return B.dimshuffle(p, *["x" if a in axes else kept.index(a) for a in range(x.ndim)])

    def out_form(p: Variable) -> Variable:
        return B.dimshuffle(p, *kept) if squeezed else p

    mean = B.mean(x, axis=axes, keepdims=True)
    var = B.var(x, axis=axes, keepdims=True)
    invstd = B.inv(B.sqrt(var + epsilon))
    out = (x - mean) * (invstd * full(gamma)) + full(beta)
    results = [out, out_form(mean), out_form(invstd)]
    f = running_average_factor
    if running_mean is not None:
        results.append(out_form(full(running_mean) * (1 - f) + mean * f))
    if running_var is not None:
        count = B.cast(B.prod([x.shape[a] for a in axes]), var.dtype)
        results.append(out_form(full(running_var) * (1 - f) + (count / (count - 1)) * var * f))
    return tuple(results)


def batch_normalization_test(inputs: Any, gamma: Any, beta: Any, mean: Any, var: Any,
                             axes: Any = "per-activation", epsilon: float = 1e-4) -> Variable:
    """(inputs - mean) * gamma / sqrt(var + epsilon) + beta with the stored statistics."""
    x = as_tensor_variable(inputs)
    axes = _axes(axes, x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]

    def full(p: Any) -> Variable:
        p = as_tensor_variable(p)
        if p.ndim == x.ndim:
            return p
        return B.dimshuffle(p, *["x" if a in axes else kept.index(a) for a in range(x.ndim)])
    return (x - full(mean)) * (full(gamma) / B.sqrt(full(var) + epsilon)) + full(beta)


def batch_normalization(inputs: Any, gamma: Any, beta: Any, mean: Any, std: Any,
                        mode: str = "low_mem") -> Variable:
    """(inputs - mean) * gamma / std + beta (Theano's T.nnet.bn.batch_normalization)."""
    return (as_tensor_variable(inputs) - mean) * (gamma / std) + beta
