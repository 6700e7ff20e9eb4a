"""The tutorial LeNet5 built twice from the same initial weights: as a symconv graph and as an
identical PyTorch eager model. Shared by bench_lenet.py and lenet_accuracy.py.

Layers (as ``convolutional_mlp.py``): conv 5x5 -> 2x2 max pool -> tanh(+ bias), twice; a tanh
hidden layer; softmax regression; mean negative log-likelihood; plain SGD on every parameter.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import symconv
import symconv.tensor as T
from symconv.tensor.signal import pool

NKERNS = (20, 50)
HIDDEN = 500
N_CLASSES = 10


def init_params(rng: np.random.RandomState, nkerns: tuple[int, int] = NKERNS,
                hidden: int = HIDDEN, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Initial weights drawn in the tutorial's order and bounds (``RandomState(23455)`` there)."""
    params: dict[str, np.ndarray] = {}
    channels = 1
    for layer, n_kern in enumerate(nkerns):
        shape = (n_kern, channels, 5, 5)
        fan_in = channels * 25
        fan_out = n_kern * 25 // 4
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        params[f"W{layer}"] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        params[f"b{layer}"] = np.zeros(n_kern, dtype)
        channels = n_kern
    n_in = nkerns[1] * 4 * 4
    bound = np.sqrt(6.0 / (n_in + hidden))
    params["W2"] = rng.uniform(-bound, bound, size=(n_in, hidden)).astype(dtype)
    params["b2"] = np.zeros(hidden, dtype)
    params["W3"] = np.zeros((hidden, N_CLASSES), dtype)
    params["b3"] = np.zeros(N_CLASSES, dtype)
    return params


# ---- symconv ------------------------------------------------------------------------------------


def symconv_model(init: dict[str, np.ndarray], learning_rate: float = 0.1
                  ) -> tuple[Callable, Callable, dict[str, Any]]:
    """(train(x, y) -> cost, predict(x) -> labels, shared params) of the tutorial LeNet."""
    params = {k: symconv.shared(v.copy(), name=k) for k, v in init.items()}
    x, y = T.tensor4("x", dtype="float32"), T.ivector("y")
    layer = x
    for n in range(2):
        conv = T.nnet.conv2d(layer, params[f"W{n}"], filter_shape=init[f"W{n}"].shape)
        pooled = pool.pool_2d(conv, ws=(2, 2), ignore_border=True)
        layer = T.tanh(pooled + params[f"b{n}"].dimshuffle("x", 0, "x", "x"))
    hidden = T.tanh(T.dot(layer.flatten(2), params["W2"]) + params["b2"])
    p_y = T.nnet.softmax(T.dot(hidden, params["W3"]) + params["b3"])
    cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    shared = list(params.values())
    grads = T.grad(cost, shared)
    lr = np.float32(learning_rate).item()
    train = symconv.function([x, y], cost,
                             updates=[(p, p - lr * g) for p, g in zip(shared, grads)])
    predict = symconv.function([x], T.argmax(p_y, axis=1))
    return train, predict, params


# ---- PyTorch ------------------------------------------------------------------------------------


def torch_model(init: dict[str, np.ndarray], learning_rate: float = 0.1
                ) -> tuple[Callable, Callable, dict[str, Any]]:
    """The same network in PyTorch eager: (train(x, y) -> cost, predict(x), parameters).

    Theano's conv2d flips the filters (true convolution) and torch cross-correlates, so torch
    gets the flipped filters; the hidden and output weights are (in, out) matrices in both.
    """
    import torch
    import torch.nn.functional as F

    params = {}
    for k, v in init.items():
        value = v[:, :, ::-1, ::-1] if k in ("W0", "W1") else v
        params[k] = torch.tensor(np.ascontiguousarray(value), requires_grad=True)
    order = list(params.values())

    def forward(x: Any) -> Any:
        layer = x
        for n in range(2):
            conv = F.conv2d(layer, params[f"W{n}"])
            layer = torch.tanh(F.max_pool2d(conv, 2) + params[f"b{n}"].view(1, -1, 1, 1))
        hidden = torch.tanh(layer.flatten(1) @ params["W2"] + params["b2"])
        return hidden @ params["W3"] + params["b3"]

    def train(x: Any, y: Any) -> float:
        for p in order:
            p.grad = None
        cost = F.cross_entropy(forward(x), y)
        cost.backward()
        with torch.no_grad():
            for p in order:
                p.sub_(learning_rate * p.grad)
        return cost.detach()

    def predict(x: Any) -> Any:
        with torch.no_grad():
            return forward(x).argmax(dim=1)

    return train, predict, params
