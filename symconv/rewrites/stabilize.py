"""Stabilize: rewrite numerically fragile forms (log of softmax/sigmoid/1+exp) into stable ones.

T.grad differentiates the graph as written; these rules run when a function is compiled and
rewrite the backward forms too (the gradient of the tutorial's negative log-likelihood becomes
one cross-entropy gradient node, which never divides by a zero probability).
"""
from __future__ import annotations

import numpy as np

from symconv.graph import Constant, Node, Variable
from symconv.ops import elemwise as E
from symconv.ops import nnet as N
from symconv.ops.index import subtensor_op
from symconv.ops.reduce import reduce_argmax, reduce_sum
from symconv.ops.shape import broadcast_to, shape_of
from symconv.rewrite import register


def _owner_op(var: Variable, name: str) -> Node | None:
    node = var.owner
    return node if node is not None and node.op.name == name else None


def _is_const(var: Variable, value: float) -> bool:
    return isinstance(var, Constant) and var.data.size >= 1 and bool(np.all(var.data == value))


def _is_one(var: Variable) -> bool:
    """A constant 1 that cannot set the shape of a result (every axis of size 1)."""
    return _is_const(var, 1) and all(s == 1 for s in var.type.shape)


def _one_plus_exp(var: Variable) -> Variable | None:
    """t where var is 1 + exp(t) or exp(t) + 1 (with a 1 that sets no shape)."""
    add = _owner_op(var, "add")
    if add is None:
        return None
    for one, other in (add.inputs, tuple(reversed(add.inputs))):
        ex = _owner_op(other, "exp")
        if ex is not None and _is_one(one):
            return ex.inputs[0]
    return None


def _negated(t: Variable) -> Variable:
    """-t, written without a double negation where t is a negation, a sum or a difference.
    Negating twice gives back t's own node (-(u + v) = -u - v and -(-u - v) = u + v), so the
    sigmoid(-t) of two rules is one node: 1 / (1 + exp(-x - b)) and 1 - that meet again.
    A t of a discrete dtype is negated in the float its sigmoid or exp would give (-t of a
    bool is refused, of an unsigned int wraps around)."""
    if t.dtype[0] not in "fc":
        return E.neg(E.cast(t, E.upgrade_to_float(t.dtype)))
    neg = _owner_op(t, "neg")
    if neg is not None:
        return neg.inputs[0]
    sub = _owner_op(t, "sub")
    if sub is not None:
        inner = _owner_op(sub.inputs[0], "neg")
        if inner is not None:                  # -(-u - v) = u + v
            return E.add(inner.inputs[0], sub.inputs[1])
        return E.sub(sub.inputs[1], sub.inputs[0])   # -(u - v) = v - u
    add = _owner_op(t, "add")
    if add is not None and add.inputs[0].dtype == t.dtype:   # -(u + v) = -u - v
        return E.sub(E.neg(add.inputs[0]), add.inputs[1])
    return E.neg(t)


def fit(new: Variable, old: Variable, like: Variable) -> Variable | None:
    """``new`` standing for ``old``: as it is when the types agree; broadcast to the shape of
    ``like`` (a dropped factor of ``old``, with ``old``'s broadcast pattern) when cancelling
    factors left a result that broadcasts on an axis ``old`` does not; else None."""
    if new.dtype != old.dtype or new.ndim != old.ndim:
        return None
    if new.type.broadcastable == old.type.broadcastable:
        return new
    if like.type.broadcastable != old.type.broadcastable or like.ndim != old.ndim:
        return None
    return broadcast_to(new, *shape_of(like))


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


def _onehot_rows(inc: Variable) -> tuple[Variable, Variable] | None:
    """(c, y) when inc = inc_subtensor(zeros, c, arange(y.shape[0]), y) with c a vector."""
    node = _owner_op(inc, "inc_subtensor")
    if node is None or node.kw["set_instead_of_inc"] or \
            node.kw["spec"] != (("array", ("v", 0)), ("array", ("v", 1))):
        return None
    zeros, c, rows, y = node.inputs
    fill = _owner_op(zeros, "filled_like")
    is_zero = (fill is not None and fill.kw["value"] == 0) or _is_const(zeros, 0)
    if not is_zero or c.ndim != 1 or y.ndim != 1 or not _is_row_arange_of(rows, y):
        return None
    return c, y


def _picked_by(c: Variable, sm: Variable, y: Variable) -> Variable | None:
    """c' when c = c' / sm[arange(y.shape[0]), y]."""
    div = _owner_op(c, "true_div")
    pick = _owner_op(div.inputs[1], "subtensor") if div is not None else None
    if pick is None or pick.inputs[0] is not sm or pick.inputs[2] is not y:
        return None
    return div.inputs[0]


def _softmax_backward(node: Node) -> tuple[Variable, Variable, Variable] | None:
    """(dy, sm, z) when node is softmax's backward (dy - sum(dy * sm, -1, keepdims)) * sm."""
    if not any(i.owner is not None and i.owner.op.name == "softmax" for i in node.inputs):
        return None   # most products: no softmax factor
    for diff, sm in (node.inputs, tuple(reversed(node.inputs))):
        sub, soft = _owner_op(diff, "sub"), _owner_op(sm, "softmax")
        if sub is None or soft is None or sm.ndim != 2:
            continue
        dy, total = sub.inputs
        red = _owner_op(total, "sum")
        if red is None or red.kw["axis"] not in ((1,), (-1,)) or not red.kw["keepdims"]:
            continue
        prod = _owner_op(red.inputs[0], "mul")
        if prod is not None and {id(i) for i in prod.inputs} == {id(dy), id(sm)}:
            return dy, sm, soft.inputs[0]
    return None


def _minus(c: Variable) -> Variable:
    """-c as canonicalize would leave it (the negation inside a broadcast, no double negation),
    so the fixpoint needs no extra pass over the whole backward graph to tidy it."""
    source = _owner_op(c, "broadcast_to")
    if source is not None and source.inputs[0].ndim == c.ndim:
        return broadcast_to(_negated(source.inputs[0]), *source.inputs[1:])
    return _negated(c)


@register("stabilize", ops=["mul"])
def softmax_crossentropy_grad(node: Node) -> Variable | None:
    # T.grad writes the backward of log(softmax(z)) as softmax's backward of dy = a / sm:
    #   (a / sm - sum(a / sm * sm)) * sm = a - sum(a) * sm          (no division by sm)
    # and for the negative log-likelihood a = onehot(y) * c (or dy = onehot(y) * c' / sm_y):
    #   c * onehot(y) - c * sm = crossentropy_softmax_1hot_grad(-c, z, y)
    found = _softmax_backward(node)
    if found is None:
        return None
    dy, sm, z = found
    div = _owner_op(dy, "true_div")
    if div is not None and div.inputs[1] is sm:
        a = div.inputs[0]
        rows = _onehot_rows(a)
        if rows is not None:
            c, y = rows
            return N.crossentropy_softmax_1hot_grad(_minus(c), z, y)
        if a.type.broadcastable != dy.type.broadcastable:
            a = broadcast_to(a, *shape_of(sm))   # the row sum must count every column
        # softmax as exp(logsoftmax(z)): the forward's logsoftmax, exp fused into the update
        return a - E.mul(reduce_sum(a, axis=-1, keepdims=True), E.exp(N.logsoftmax(z)))
    rows = _onehot_rows(dy)
    if rows is not None:
        c, y = rows
        picked = _picked_by(c, sm, y)
        if picked is not None and picked.ndim == 1:
            return N.crossentropy_softmax_1hot_grad(_minus(picked), z, y)
    return None


def _factors(var: Variable) -> tuple[bool, list[Variable]]:
    """(negated, factors) of a product tree of mul and neg nodes."""
    name = var.owner.op.name if var.owner is not None else None
    if name == "neg":
        negated, factors = _factors(var.owner.inputs[0])
        return not negated, factors
    if name == "mul":
        neg_a, fa = _factors(var.owner.inputs[0])
        neg_b, fb = _factors(var.owner.inputs[1])
        return neg_a != neg_b, fa + fb
    return False, [var]


def _positive(var: Variable) -> bool:
    """Positive by construction: sigmoid(x), 1 - sigmoid(x), exp(x)."""
    if _owner_op(var, "sigmoid") is not None or _owner_op(var, "exp") is not None:
        return True
    sub = _owner_op(var, "sub")
    return sub is not None and _is_const(sub.inputs[0], 1) and \
        _owner_op(sub.inputs[1], "sigmoid") is not None


def _exp_of_one_plus_exp(var: Variable) -> Variable | None:
    """The exp(x) node's output when var = 1 + exp(x) (either order; any constant 1)."""
    add = _owner_op(var, "add")
    if add is None:
        return None
    for one, other in (add.inputs, tuple(reversed(add.inputs))):
        if _is_const(one, 1) and _owner_op(other, "exp") is not None:
            return other
    return None


@register("stabilize", ops=["mul"])
def cancel_positive_division(node: Node) -> Variable | None:
    # In a product:  (a / p) * p -> a  for p = sigmoid(x), 1 - sigmoid(x), exp(x), positive
    # by construction but 0 in floating point far out;  (a / (1 + exp(x))) * exp(x) ->
    # a * sigmoid(x).  These are the backward forms of log(sigmoid), log(1 - sigmoid),
    # log(1 + exp) and log1p(exp) as T.grad writes them.
    negated, factors = _factors(node.out)
    kinds = {f.owner.op.name for f in factors if f.owner is not None}
    if not kinds & {"true_div", "add", "sub"}:
        return None   # no division to cancel, no sum to distribute
    ids = [id(f) for f in factors]
    spread = _distribute(negated, factors, ids)
    if spread is not None:
        return spread if _same_type(spread, node.out) else None
    for i, f in enumerate(factors):
        div = _owner_op(f, "true_div")
        if div is None:
            continue
        a, p = div.inputs
        if _positive(p) and id(p) in ids:
            drop, keep = ids.index(id(p)), a
        else:
            ex = _exp_of_one_plus_exp(p)
            if ex is None or id(ex) not in ids:
                continue
            drop, keep = ids.index(id(ex)), a * E.sigmoid(ex.owner.inputs[0])
        rest = [keep if j == i else g for j, g in enumerate(factors) if j != drop]
        out = rest[0]
        for g in rest[1:]:
            out = E.mul(out, g)
        out = E.neg(out) if negated else out
        return fit(out, node.out, factors[drop])   # (1 / p) * p leaves a broadcast 1
    return None


def _same_type(new: Variable, old: Variable) -> bool:
    return new.type.dtype == old.type.dtype and \
        new.type.broadcastable == old.type.broadcastable


def _product(negated: bool, factors: list[Variable]) -> Variable:
    out = factors[0]
    for f in factors[1:]:
        out = E.mul(out, f)
    return E.neg(out) if negated else out


def _cancels(term: Variable, ids: list[int]) -> bool:
    """A factor of term is a / p with p positive (or 1 + exp(x)) and p (or exp(x)) in ``ids``."""
    for f in _factors(term)[1]:
        div = _owner_op(f, "true_div")
        if div is None:
            continue
        p = div.inputs[1]
        ex = _exp_of_one_plus_exp(p)
        if (_positive(p) and id(p) in ids) or (ex is not None and id(ex) in ids):
            return True
    return False


def _distribute(negated: bool, factors: list[Variable], ids: list[int]) -> Variable | None:
    # (t1 +- t2) * F -> t1 * F +- t2 * F  when a term's division cancels against F
    # (the backward of binary_crossentropy(sigmoid(x), t) sums two such terms)
    for i, f in enumerate(factors):
        node = f.owner
        if node is None or node.op.name not in ("add", "sub"):
            continue
        rest = factors[:i] + factors[i + 1:]
        rest_ids = ids[:i] + ids[i + 1:]
        if not any(_cancels(t, rest_ids) for t in node.inputs):
            continue
        left, right = (_product(negated, [t] + rest) for t in node.inputs)
        return E.add(left, right) if node.op.name == "add" else E.sub(left, right)
    return None


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
    # log(1 + exp(x)) -> softplus(x)   (either operand order; a larger 1 would set the shape)
    t = _one_plus_exp(node.inputs[0])
    return E.softplus(t) if t is not None else None


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
