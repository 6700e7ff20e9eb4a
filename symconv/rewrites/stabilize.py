"""Stabilize: rewrite numerically fragile forms (log of softmax/sigmoid/1+exp) into stable ones.

T.grad runs these phases on the cost before differentiating, so the gradients are built from
the stable forms too (log(softmax(z)) never meets a zero probability, forward or backward).
"""
from __future__ import annotations

import numpy as np

from symconv.graph import Constant, Node, Variable
from symconv.ops import elemwise as E
from symconv.ops import nnet as N
from symconv.ops.index import subtensor_op
from symconv.ops.reduce import reduce_argmax
from symconv.rewrite import register


def _owner_op(var: Variable, name: str) -> Node | None:
    node = var.owner
    return node if node is not None and node.op.name == name else None


def _is_const(var: Variable, value: float) -> bool:
    return isinstance(var, Constant) and var.data.size >= 1 and bool(np.all(var.data == value))


@register("stabilize", ops=["log"])
def log_softmax(node: Node) -> Variable | None:
    # log(softmax(x)) -> logsoftmax(x)
    sm = _owner_op(node.inputs[0], "softmax")
    return N.logsoftmax(sm.inputs[0]) if sm is not None else None


@register("stabilize", ops=["log"])
def log_of_indexed_softmax(node: Node) -> Variable | None:
    # log(softmax(x)[idx]) -> logsoftmax(x)[idx]   (categorical_crossentropy's form)
    sub = _owner_op(node.inputs[0], "subtensor")
    if sub is None or _owner_op(sub.inputs[0], "softmax") is None:
        return None
    x = sub.inputs[0].owner.inputs[0]
    return subtensor_op(N.logsoftmax(x), *sub.inputs[1:], **sub.kw)


def _is_row_arange_of(rows: Variable, y: Variable) -> bool:
    """rows is arange(0, y.shape[0], 1)."""
    ar = _owner_op(rows, "arange")
    if ar is None or not (_is_const(ar.inputs[0], 0) and _is_const(ar.inputs[2], 1)):
        return False
    stop = ar.inputs[1]
    if isinstance(stop, Constant) and y.type.shape[0] is not None:
        return int(stop.data) == y.type.shape[0]
    sub = _owner_op(stop, "subtensor")
    if sub is None or sub.kw["spec"] != (("int", 0),):
        return False
    shp = _owner_op(sub.inputs[0], "shape")
    return shp is not None and shp.inputs[0] is y


@register("stabilize", ops=["subtensor"])
def softmax_crossentropy(node: Node) -> Variable | None:
    # logsoftmax(z)[arange(y.shape[0]), y] -> -crossentropy_softmax_1hot(z, y)
    lsm = _owner_op(node.inputs[0], "logsoftmax")
    spec = node.kw["spec"]
    if lsm is None or spec != (("array", ("v", 0)), ("array", ("v", 1))):
        return None
    z = lsm.inputs[0]
    rows, y = node.inputs[1], node.inputs[2]
    if z.ndim != 2 or y.ndim != 1 or not _is_row_arange_of(rows, y):
        return None
    return -N.crossentropy_softmax_1hot(z, y)


def _as_float(node: Node) -> Variable:
    """The input of a float-valued elementwise node, cast to that node's dtype."""
    return E.cast(node.inputs[0], node.out.dtype)


@register("stabilize", ops=["log"])
def log_sigmoid(node: Node) -> Variable | None:
    # log(sigmoid(x)) -> -softplus(-x)
    sig = _owner_op(node.inputs[0], "sigmoid")
    # x is taken in the sigmoid's float dtype first: -x of an unsigned x would wrap around
    return -E.softplus(-_as_float(sig)) if sig is not None else None


@register("stabilize", ops=["log"])
def log_one_minus_sigmoid(node: Node) -> Variable | None:
    # log(1 - sigmoid(x)) -> -softplus(x)
    sub = _owner_op(node.inputs[0], "sub")
    if sub is None or not _is_const(sub.inputs[0], 1):
        return None
    sig = _owner_op(sub.inputs[1], "sigmoid")
    return -E.softplus(_as_float(sig)) if sig is not None else None


@register("stabilize", ops=["log"])
def log_one_plus_exp(node: Node) -> Variable | None:
    # log(1 + exp(x)) -> softplus(x)   (either operand order)
    add = _owner_op(node.inputs[0], "add")
    if add is None:
        return None
    for one, other in (add.inputs, reversed(add.inputs)):
        ex = _owner_op(other, "exp")
        if _is_const(one, 1) and ex is not None:
            return E.softplus(ex.inputs[0])
    return None


@register("stabilize", ops=["log1p"])
def log1p_exp(node: Node) -> Variable | None:
    # log1p(exp(x)) -> softplus(x)
    ex = _owner_op(node.inputs[0], "exp")
    return E.softplus(ex.inputs[0]) if ex is not None else None


@register("stabilize", ops=["argmax"])
def argmax_of_softmax(node: Node) -> Variable | None:
    # argmax(softmax(x), axis=-1) -> argmax(x, axis=-1)   (softmax is monotonic per row)
    sm = _owner_op(node.inputs[0], "softmax")
    if sm is None or node.kw["axis"] != (sm.inputs[0].ndim - 1,):
        return None
    return reduce_argmax(sm.inputs[0], **node.kw)
