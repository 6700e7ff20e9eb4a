"""Stabilize the backward forms T.grad writes: products where an exp meets a sigmoid or a sum
of exponentials it would overflow against.

T.grad differentiates the graph as written; the forward rules (stabilize.py, sigmoid.py) and
these product rules run when a function is compiled, so the gradient graph is the same whatever
the flags and only the compiled function is stabilised.
"""
from __future__ import annotations

from symconv.graph import Node, Variable
from symconv.ops import elemwise as E
from symconv.ops.shape import assert_sizes
from symconv.rewrite import register
from symconv.rewrites.sigmoid import _exp_terms
from symconv.rewrites.stabilize import _factors, _negated, _owner_op, _product, fit


def _same(a: Variable, b: Variable) -> bool:
    """a and b are one computation (the same node, or equal nodes not merged yet)."""
    return a is b or (a.owner is not None and b.owner is not None
                      and a.owner.key() == b.owner.key())


def _is_negation(u: Variable, t: Variable) -> bool:
    """u is -t as written: neg(t), t = neg(u), a difference reversed, -a - b for a + b."""
    return _same(_negated(t), u) or _same(_negated(u), t)


def _sigmoid_factor(f: Variable) -> tuple[Variable, Variable | None] | None:
    """(u, what stays) when f is sigmoid(u) (nothing stays) or sqr(sigmoid(u)) (one stays)."""
    sig = _owner_op(f, "sigmoid")
    if sig is not None:
        return sig.inputs[0], None
    sq = _owner_op(f, "sqr")
    sig = _owner_op(sq.inputs[0], "sigmoid") if sq is not None else None
    return (sig.inputs[0], sq.inputs[0]) if sig is not None else None


@register("stabilize", ops=["mul"])
def sigmoid_times_exp(node: Node) -> Variable | None:
    # exp(t) * sigmoid(-t) -> sigmoid(t)    (e^t / (1 + e^t): the exp alone overflows, and
    # inf * 0 is nan; T.grad writes this for log(1 + exp(t)) once 1 / (1 + exp(t)) is a
    # sigmoid);  exp(t) * sqr(sigmoid(-t)) -> sigmoid(t) * sigmoid(-t)  likewise
    negated, factors = _factors(node.out)
    sigs = [(k, found) for k, found in enumerate(map(_sigmoid_factor, factors))
            if found is not None]
    if not sigs:
        return None
    for i, f in enumerate(factors):
        if _owner_op(f, "exp") is None:
            continue
        t = f.owner.inputs[0]
        for j, (u, stays) in sigs:
            if not _is_negation(u, t):
                continue
            rest = [g for k, g in enumerate(factors) if k not in (i, j)] + [E.sigmoid(t)]
            rest += [stays] if stays is not None else []
            return fit(_product(negated, rest), node.out, f)
    return None


@register("stabilize", ops=["mul"])
def exp_over_sum_of_exps(node: Node) -> Variable | None:
    # exp(t) * (a / (exp(t) + exp(u) + ...)) -> a * exp(t - log(exp(t) + exp(u) + ...))
    # T.grad writes this for log(exp(t) + exp(u) + ...); the log is rewritten by log_sum_exp
    # to the shifted form, so the exponent is t - logsumexp <= 0: no inf / inf
    negated, factors = _factors(node.out)
    for i, f in enumerate(factors):
        div = _owner_op(f, "true_div")
        if div is None:
            continue
        a, total = div.inputs
        check = _owner_op(total, "assert_sizes")   # a size check on the sum stays on the share
        if check is not None:
            total = check.inputs[0]
        terms: list[Variable] = []
        if _owner_op(total, "add") is None or not _exp_terms(total, terms) or len(terms) < 2:
            continue
        for j, e in enumerate(factors):
            ex = _owner_op(e, "exp")
            if ex is None or not any(ex.inputs[0] is t for t in terms):
                continue
            share = E.exp(E.sub(ex.inputs[0], E.log(total)))   # the sum's shape
            if check is not None:
                share = assert_sizes(share, *check.inputs[1:], **check.kw)
            rest = [g for k, g in enumerate(factors) if k not in (i, j)]
            return fit(_product(negated, rest + [a, share]), node.out, e)
    return None
