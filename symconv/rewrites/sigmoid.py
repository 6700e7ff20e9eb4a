"""Stabilize hand-written logistic and log-sum-exp forms (Theano's sigm.py and log rewrites).

``1 / (1 + exp(-z))`` as written in Theano's tutorials becomes ``sigmoid(z)``, so the log rules
of stabilize.py turn the cross-entropy into softplus forms; ``log(1 + x)`` becomes ``log1p(x)``
and ``log(exp(a) + exp(b))`` is shifted by the larger exponent; ``1 - sigmoid(x)`` becomes
``sigmoid(-x)``. They run at compile time on the forward graph and on the backward graph T.grad
wrote from it (backward.py has the product rules that finish the backward forms).
"""
from __future__ import annotations

from symconv.graph import Constant, Node, Variable
from symconv.ops import elemwise as E
from symconv.rewrite import register
from symconv.rewrites.stabilize import (_factors, _is_one, _negated, _one_plus_exp,
                                        _owner_op, _product)


@register("stabilize", ops=["true_div"])
def logistic_quotient(node: Node) -> Variable | None:
    # 1 / (1 + exp(t)) -> sigmoid(-t);  exp(t) / (1 + exp(t)) -> sigmoid(t)
    num, den = node.inputs
    t = _one_plus_exp(den)
    if t is None:
        return None
    if _is_one(num):
        return E.sigmoid(_negated(t))
    ex = _owner_op(num, "exp")
    if ex is not None and ex.inputs[0] is t:
        return E.sigmoid(t)
    # (a * exp(t)) / (1 + exp(t)) -> a * sigmoid(t)   (a second T.grad writes it)
    negated, factors = _factors(num)
    for k, f in enumerate(factors):
        ex = _owner_op(f, "exp")
        if ex is not None and ex.inputs[0] is t and len(factors) > 1:
            out = _product(negated, factors[:k] + factors[k + 1:] + [E.sigmoid(t)])
            return out if out.type == node.out.type else None
    return None


@register("stabilize", ops=["pow"])
def logistic_power(node: Node) -> Variable | None:
    # (1 + exp(t)) ** -c -> sigmoid(-t) ** c   (c > 0 constant): T.grad writes
    # (1 + exp(t)) ** -2 for (1 + exp(t)) ** -1, whose exp(t) factor then overflows against it
    base, c = node.inputs
    t = _one_plus_exp(base)
    if t is None or not isinstance(c, Constant) or c.data.size != 1 or \
            not all(s == 1 for s in c.type.shape) or not float(c.data.reshape(-1)[0]) < 0:
        return None
    s = E.sigmoid(_negated(t))
    power = -float(c.data.reshape(-1)[0])
    # the powers T.grad writes, spelled as canonicalize would (FAST_COMPILE does not run it)
    if power == 1:
        out = s
    elif power == 2:
        out = E.sqr(s)
    else:
        out = E.pow(s, Constant(c.type, -c.data))
    return out if out.type == node.out.type else None


@register("stabilize", ops=["inv"])
def logistic_inverse(node: Node) -> Variable | None:
    # inv(1 + exp(t)) -> sigmoid(-t)
    t = _one_plus_exp(node.inputs[0])
    return E.sigmoid(_negated(t)) if t is not None else None


@register("stabilize", ops=["log"])
def log_one_plus(node: Node) -> Variable | None:
    # log(1 + x) -> log1p(x);  log(1 - x) -> log1p(-x)   (exp and sigmoid have rules of their own)
    for name in ("add", "sub"):
        inner = _owner_op(node.inputs[0], name)
        if inner is None:
            continue
        pairs = [inner.inputs] + ([tuple(reversed(inner.inputs))] if name == "add" else [])
        for one, x in pairs:
            if not _is_one(one) or x.owner is not None and x.owner.op.name in (
                    "exp", "sigmoid"):
                continue
            return E.log1p(x if name == "add" else E.neg(x))
    return None


def _exp_terms(var: Variable, out: list[Variable]) -> bool:
    """Collect t_i where var = exp(t_1) + exp(t_2) + ...; False when another term is found."""
    add = _owner_op(var, "add")
    if add is not None:
        return all(_exp_terms(i, out) for i in add.inputs)
    ex = _owner_op(var, "exp")
    if ex is None:
        return False
    out.append(ex.inputs[0])
    return True


def _is_shifted(t: Variable) -> bool:
    sub = _owner_op(t, "sub")
    return sub is not None and _owner_op(sub.inputs[1], "disconnected_grad") is not None


@register("stabilize", ops=["log"])
def log_sum_exp(node: Node) -> Variable | None:
    # log(exp(a) + exp(b) + ...) -> m + log(exp(a - m) + exp(b - m) + ...), m = max(a, b, ...)
    # m is held constant for T.grad (the identity holds for any m), so the gradient is the
    # exact softmax of the exponents; the sum lies in [1, n] and never overflows
    terms: list[Variable] = []
    if not _exp_terms(node.inputs[0], terms) or len(terms) < 2 or any(map(_is_shifted, terms)):
        return None
    from symconv.gradient import disconnected_grad
    m = terms[0]
    for t in terms[1:]:
        m = E.maximum(m, t)
    m = disconnected_grad(m)
    total = E.exp(E.sub(terms[0], m))
    for t in terms[1:]:
        total = E.add(total, E.exp(E.sub(t, m)))
    result = E.add(m, E.log(total))
    return result if result.dtype == node.out.dtype else E.cast(result, node.out.dtype)


@register("stabilize", ops=["sub"])
def one_minus_sigmoid(node: Node) -> Variable | None:
    # 1 - sigmoid(x) -> sigmoid(-x)   (exact; the difference loses every digit once sigmoid(x)
    # rounds to 1, and T.grad's backward of log(1 - sigmoid(x)) divides by it)
    one, s = node.inputs
    sig = _owner_op(s, "sigmoid")
    if sig is None or not _is_one(one):
        return None
    out = E.sigmoid(_negated(sig.inputs[0]))   # (a discrete x is negated in float)
    return out if out.type == node.out.type else None
