"""The Theano tutorials' MLP and LeNet as symconv graphs, from NumPy initial weights.

Weights are drawn once as NumPy arrays (``*_init``) so that the benchmark peers and the demo can
start from exactly the same values; the graph builders only wrap them in shared variables.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import symconv
import symconv.tensor as T

LENET_KERNELS = (20, 50)
LENET_HIDDEN = 500
MLP_HIDDEN = 500
IMAGE_SHAPE = (1, 28, 28)
N_CLASSES = 10


def has_conv() -> bool:
    """Whether ``T.nnet.conv2d`` and ``pool.pool_2d`` are available (LeNet needs both)."""
    try:
        from symconv.tensor.signal import pool
    except ImportError:
        return False
    return hasattr(T.nnet, "conv2d") and hasattr(pool, "pool_2d")


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...],
             dtype: str) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def mlp_init(rng: np.random.Generator, dtype: str, n_in: int = 784,
             n_hidden: int = MLP_HIDDEN, n_out: int = N_CLASSES) -> dict[str, np.ndarray]:
    """Initial MLP weights as in the tutorial: tanh layer with Glorot-uniform weights, zero
    logistic-regression layer."""
    return {
        "W_hidden": _uniform(rng, np.sqrt(6.0 / (n_in + n_hidden)), (n_in, n_hidden), dtype),
        "b_hidden": np.zeros(n_hidden, dtype),
        "W_out": np.zeros((n_hidden, n_out), dtype),
        "b_out": np.zeros(n_out, dtype),
    }


def lenet_init(rng: np.random.Generator, dtype: str,
               kernels: tuple[int, int] = LENET_KERNELS) -> dict[str, np.ndarray]:
    """Initial LeNet weights as in the tutorial (Glorot bounds with the pooling fan-out)."""
    params: dict[str, np.ndarray] = {}
    channels = IMAGE_SHAPE[0]
    for layer, n_kern in enumerate(kernels):
        shape = (n_kern, channels, 5, 5)
        fan_in = channels * 25
        fan_out = n_kern * 25 / 4
        params[f"W_conv{layer}"] = _uniform(rng, np.sqrt(6.0 / (fan_in + fan_out)), shape, dtype)
        params[f"b_conv{layer}"] = np.zeros(n_kern, dtype)
        channels = n_kern
    n_in = kernels[1] * 4 * 4
    params["W_hidden"] = _uniform(rng, np.sqrt(6.0 / (n_in + LENET_HIDDEN)),
                                  (n_in, LENET_HIDDEN), dtype)
    params["b_hidden"] = np.zeros(LENET_HIDDEN, dtype)
    params["W_out"] = np.zeros((LENET_HIDDEN, N_CLASSES), dtype)
    params["b_out"] = np.zeros(N_CLASSES, dtype)
    return params


def as_shared(init: dict[str, np.ndarray]) -> dict[str, Any]:
    """Shared variables named after the keys of ``init``."""
    return {name: symconv.shared(value, name=name) for name, value in init.items()}


def mlp_output(x: Any, params: dict[str, Any]) -> Any:
    """Class probabilities of the tutorial MLP for a matrix of flattened images."""
    hidden = T.tanh(T.dot(x, params["W_hidden"]) + params["b_hidden"])
    return T.nnet.softmax(T.dot(hidden, params["W_out"]) + params["b_out"])


def lenet_output(x: Any, params: dict[str, Any]) -> Any:
    """Class probabilities of the tutorial LeNet for a (batch, 1, 28, 28) tensor."""
    from symconv.tensor.signal import pool
    layer = x
    for n in range(2):
        conv = T.nnet.conv2d(layer, params[f"W_conv{n}"])
        pooled = pool.pool_2d(conv, ws=(2, 2), ignore_border=True)
        layer = T.tanh(pooled + params[f"b_conv{n}"].dimshuffle("x", 0, "x", "x"))
    hidden = T.tanh(T.dot(layer.flatten(2), params["W_hidden"]) + params["b_hidden"])
    return T.nnet.softmax(T.dot(hidden, params["W_out"]) + params["b_out"])


def nll(p_y: Any, y: Any) -> Any:
    """Mean negative log-likelihood of the integer labels ``y``."""
    return -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])


def sgd_updates(cost: Any, params: dict[str, Any], learning_rate: float) -> list[tuple]:
    """Plain SGD: one ``(param, param - lr * grad)`` pair per parameter."""
    shared = list(params.values())
    grads = T.grad(cost, shared)
    return [(p, p - learning_rate * g) for p, g in zip(shared, grads)]


def train_function(kind: str, params: dict[str, Any], learning_rate: float = 0.1,
                   l2: float = 0.0) -> Any:
    """A compiled ``f(x, y) -> cost`` doing one SGD step of the MLP or LeNet.

    ``x`` is a (batch, 784) matrix for ``kind='mlp'`` and a (batch, 1, 28, 28) tensor for
    ``kind='lenet'``; ``y`` an int32 vector of labels.
    """
    x = T.matrix("x") if kind == "mlp" else T.tensor4("x")
    y = T.ivector("y")
    p_y = (mlp_output if kind == "mlp" else lenet_output)(x, params)
    cost = nll(p_y, y)
    if l2:
        cost = cost + l2 * sum((params[k] ** 2).sum() for k in params if k.startswith("W"))
    return symconv.function([x, y], cost, updates=sgd_updates(cost, params, learning_rate))


def predict_function(kind: str, params: dict[str, Any]) -> Any:
    """A compiled ``f(x) -> predicted labels`` for the MLP or LeNet."""
    x = T.matrix("x") if kind == "mlp" else T.tensor4("x")
    p_y = (mlp_output if kind == "mlp" else lenet_output)(x, params)
    return symconv.function([x], T.argmax(p_y, axis=1))
