"""``T.nnet``: activations, softmax and cross-entropies (Theano's names and semantics)."""
from __future__ import annotations

from typing import Any

from symconv.graph import Variable, as_tensor_variable
from symconv.ops import nnet as _nnet
from symconv.ops.elemwise import sigmoid, softplus, switch, log, sqr  # noqa: F401
from symconv.tensor import basic as _T

ultra_fast_sigmoid = sigmoid   # Theano's approximations; symconv computes the exact sigmoid
hard_sigmoid_exact = sigmoid


def hard_sigmoid(x: Any) -> Variable:
    """Piecewise-linear sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    x = as_tensor_variable(x)
    return _T.clip(0.2 * x + 0.5, 0, 1)


def relu(x: Any, alpha: float | Any = 0) -> Variable:
    """max(x, 0), or x for x > 0 and ``alpha * x`` otherwise (leaky ReLU).

    Theano's formulation, so values and gradients are Theano's: ``0.5 * (x + |x|)``, whose
    gradient at 0 is 0.5, and ``f1 * x + f2 * |x|`` with ``f1, f2 = (1 +- alpha) / 2``."""
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return 0.5 * (x + abs(x))
    alpha = as_tensor_variable(alpha)
    return 0.5 * (1 + alpha) * x + 0.5 * (1 - alpha) * abs(x)


def elu(x: Any, alpha: float = 1) -> Variable:
    x = as_tensor_variable(x)
    return switch(x > 0, x, alpha * _T.expm1(x))


def softmax(c: Any, axis: int = -1) -> Variable:
    """Softmax over the last axis (row-wise for a matrix)."""
    c = as_tensor_variable(c)
    if axis not in (-1, c.ndim - 1, None):
        raise ValueError("softmax: only the last axis is supported")
    if c.ndim == 1:   # Theano treats a vector as one row: the result is a (1, k) matrix
        c = _T.shape_padleft(c)
    return _nnet.softmax(c)


def logsoftmax(c: Any, axis: int = -1) -> Variable:
    """log(softmax(c)) over the last axis, computed stably."""
    c = as_tensor_variable(c)
    if axis not in (-1, c.ndim - 1, None):
        raise ValueError("logsoftmax: only the last axis is supported")
    if c.ndim == 1:   # Theano treats a vector as one row: the result is a (1, k) matrix
        c = _T.shape_padleft(c)
    return _nnet.logsoftmax(c)


log_softmax = logsoftmax


def categorical_crossentropy(coding_dist: Any, true_dist: Any) -> Variable:
    """-sum(true * log(coding)) per row; ``true_dist`` is one-hot/probabilities or int labels."""
    coding = as_tensor_variable(coding_dist)
    true = as_tensor_variable(true_dist)
    if true.ndim == coding.ndim:
        return -_T.sum(true * log(coding), axis=coding.ndim - 1)
    if true.ndim == coding.ndim - 1 and coding.ndim == 2:
        if true.dtype[0] not in "iu":
            raise TypeError(f"categorical_crossentropy: integer labels expected, got {true.type}")
        return -log(coding[_T.arange(true.shape[0]), true])
    raise TypeError(f"categorical_crossentropy: true_dist {true.type} must be a matrix of the "
                    f"coding's shape {coding.type} or an integer vector of labels")


def binary_crossentropy(output: Any, target: Any) -> Variable:
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return -(target * log(output) + (1 - target) * log(1 - output))


def sigmoid_binary_crossentropy(output: Any, target: Any) -> Variable:
    """binary_crossentropy(sigmoid(output), target), stable for large logits."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return target * softplus(-output) + (1 - target) * softplus(output)


def crossentropy_categorical_1hot(coding_dist: Any, true_one_of_n: Any) -> Variable:
    return categorical_crossentropy(coding_dist, true_one_of_n)


from symconv.tensor.nnet.abstract_conv import (conv2d, conv2d_grad_wrt_inputs,  # noqa: E402,F401
                                               conv2d_grad_wrt_weights, conv2d_transpose)
from symconv.tensor.nnet import conv  # noqa: E402,F401
from symconv.tensor.nnet import bn  # noqa: F401,E402
