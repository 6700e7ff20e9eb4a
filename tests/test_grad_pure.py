"""T.grad is pure (issue 10): the gradient graph is the graph as written, the same under every
flag and mode; the stabilize phase makes the compiled backward finite at extreme inputs."""
import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.bench import models
from symconv.printing import debugprint
from symconv.rewrite import rewrite_graph


def _sigmoid(v):
    return 0.5 * (1 + np.tanh(v / 2))


def _softmax(v):
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _onehot(y, k):
    return np.eye(k)[y]


def _nll_mean(z, y):
    return -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])


def _nll_sum(z, y):
    return -T.sum(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])


def _real_example(minus_z, t):
    # doc/tutorial/examples.txt, "A Real Example": the logistic written out by hand, with
    # minus_z = -T.dot(x, w) - b there
    p_1 = 1 / (1 + T.exp(minus_z))
    return (-t * T.log(p_1) - (1 - t) * T.log(1 - p_1)).sum()


# name: (kind, cost of (input, second input), d cost / d input computed stably in NumPy)
CASES = {
    "nll_mean": ("labels", _nll_mean, lambda z, y: (_softmax(z) - _onehot(y, 3)) / len(y)),
    "nll_sum": ("labels", _nll_sum, lambda z, y: _softmax(z) - _onehot(y, 3)),
    "categorical_crossentropy": (
        "labels", lambda z, y: T.nnet.categorical_crossentropy(T.nnet.softmax(z), y).mean(),
        lambda z, y: (_softmax(z) - _onehot(y, 3)) / len(y)),
    "categorical_crossentropy_onehot": (
        "labels", lambda z, y: T.nnet.categorical_crossentropy(
            T.nnet.softmax(z), T.eq(T.arange(3).dimshuffle("x", 0), y.dimshuffle(0, "x"))
        ).sum(), lambda z, y: _softmax(z) - _onehot(y, 3)),
    "log_softmax": ("labels", lambda z, y: T.log(T.nnet.softmax(z)).sum(),
                    lambda z, y: 1 - 3 * _softmax(z)),
    "real_example": ("targets", lambda x, t: _real_example(-x, t), lambda v, t: _sigmoid(v) - t),
    "real_example_with_bias": (
        "targets", lambda x, t: _real_example(-x - 1.5, t), lambda v, t: _sigmoid(v + 1.5) - t),
    "logistic_as_a_power": ("targets", lambda x, t: -T.log((1 + T.exp(-x)) ** -1).sum(),
                            lambda v, t: -_sigmoid(-v)),
    "logistic_as_an_inverse": ("targets", lambda x, t: -T.log(T.inv(1 + T.exp(-x))).sum(),
                               lambda v, t: -_sigmoid(-v)),
    "minus_log_logistic": ("targets", lambda x, t: -T.log(1 / (1 + T.exp(-x))).sum(),
                           lambda v, t: -_sigmoid(-v)),
    "log_of_exp_over_1_plus_exp": (
        "targets", lambda x, t: T.log(T.exp(x) / (1 + T.exp(x))).sum(),
        lambda v, t: _sigmoid(-v)),
    "binary_crossentropy": (
        "targets", lambda x, t: T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t).sum(),
        lambda v, t: _sigmoid(v) - t),
    "log_sigmoid_forms": (
        "targets", lambda x, t: (T.log(T.nnet.sigmoid(x)) + 2 * T.log(1 - T.nnet.sigmoid(x)))
        .sum(), lambda v, t: _sigmoid(-v) - 2 * _sigmoid(v)),
    "log1p_exp": ("targets", lambda x, t: T.log1p(T.exp(x)).sum(), lambda v, t: _sigmoid(v)),
    "log_1_plus_exp": ("targets", lambda x, t: T.log(1 + T.exp(x)).sum(),
                       lambda v, t: _sigmoid(v)),
    "log_exp_plus_1": ("targets", lambda x, t: T.log(T.exp(x) + 1).sum(),
                       lambda v, t: _sigmoid(v)),
    "log_sum_exp": ("targets", lambda x, t: T.log(T.exp(x) + T.exp(t)).sum(),
                    lambda v, t: _sigmoid(v - t)),
    "log_sum_exp_one_input": (
        "targets", lambda x, t: T.log(T.exp(x) + T.exp(2 * x)).sum(),
        lambda v, t: _sigmoid(-v) + 2 * _sigmoid(v)),   # e^v / (e^v + e^2v) = sigmoid(-v)
}

LOGITS = np.array([[50.0, -50.0, 0.0], [-800.0, 800.0, 1.0], [3.0, 2.0, -1.0],
                   [800.0, -800.0, -800.0]])
LABELS = np.array([1, 0, 2, 0], "int32")
VALUES = np.array([-800.0, -50.0, -5.0, 0.0, 5.0, 50.0, 800.0])
TARGETS = np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0])


def _inputs(kind, dtype):
    if kind == "labels":
        return (T.matrix("z", dtype=dtype), T.ivector("y")), (LOGITS.astype(dtype), LABELS)
    return (T.vector("x", dtype=dtype), T.vector("t", dtype=dtype)), (
        VALUES.astype(dtype), TARGETS.astype(dtype))


def _text(var):
    return debugprint(var, file="str")


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_graph_is_the_same_whatever_the_flags(name):
    kind, cost_of, _ = CASES[name]
    texts = {}
    for flags in ({"optimizer": "None"}, {"optimizer": "fast_run"},
                  {"optimizer": "fast_compile"}, {"mode": "FAST_COMPILE"}):
        with symconv.config.change_flags(**flags):
            (a, b), _ = _inputs(kind, "float64")
            texts[str(flags)] = _text(T.grad(cost_of(a, b), a))
    assert len(set(texts.values())) == 1, texts


def test_gradient_is_of_the_graph_as_written():
    # the NLL's gradient holds softmax's backward and the indexing's inc_subtensor, not the
    # fused cross-entropy op: that is the compiler's rewrite, not T.grad's
    z, y = T.matrix("z"), T.ivector("y")
    text = _text(T.grad(_nll_mean(z, y), z))
    assert "softmax" in text and "inc_subtensor" in text and "crossentropy" not in text


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_gradient_is_finite_and_exact_at_extreme_inputs(name, dtype, mode):
    kind, cost_of, want_of = CASES[name]
    (a, b), (av, bv) = _inputs(kind, dtype)
    g = T.grad(cost_of(a, b), a)
    got = symconv.function([a, b], g, mode=mode, on_unused_input="ignore")(av, bv)
    assert got.dtype == dtype
    want = want_of(av.astype("float64"), bv.astype("float64") if kind == "targets" else bv)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-5,
                                                                    "atol": 1e-6}
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_gradient_equals_the_unrewritten_one_at_moderate_inputs(name, mode, rng):
    # the rewrites change how the gradient is computed, never its value where the graph as
    # written is itself finite
    kind, cost_of, _ = CASES[name]
    (a, b), _ = _inputs(kind, "float64")
    if kind == "labels":
        values = [rng.normal(size=(6, 3)) * 3, rng.integers(0, 3, 6).astype("int32")]
    else:
        values = [rng.normal(size=7) * 3, rng.random(7)]
    g = T.grad(cost_of(a, b), a)
    got = symconv.function([a, b], g, mode=mode, on_unused_input="ignore")(*values)
    with symconv.config.change_flags(optimizer="None"):
        want = symconv.function([a, b], g, on_unused_input="ignore")(*values)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["nll_mean", "real_example", "log_sum_exp", "log1p_exp",
                                  "log_sigmoid_forms", "log_softmax"])
def test_without_the_rewrites_the_same_gradient_overflows(name):
    # the rewrites are what keeps the gradient finite: compiled with optimizer=None, the very
    # same gradient graph gives inf or nan at these inputs
    kind, cost_of, _ = CASES[name]
    (a, b), (av, bv) = _inputs(kind, "float64")
    g = T.grad(cost_of(a, b), a)
    with symconv.config.change_flags(optimizer="None"), np.errstate(all="ignore"):
        naive = symconv.function([a, b], g, on_unused_input="ignore")(av, bv)
    assert not np.isfinite(naive).all()


def _logistic_step(stabilise_first):
    # the tutorial's logistic regression step; stabilise_first=True reproduces main's T.grad,
    # which rewrote the cost with canonicalize + stabilize before differentiating
    x, y = T.matrix("x"), T.ivector("y")
    W = symconv.shared(np.zeros((20, 4)), "W")
    b = symconv.shared(np.zeros(4), "b")
    cost = _nll_mean(T.dot(x, W) + b, y)
    return _step([x, y], cost, [W, b], stabilise_first)


def _lenet_step(stabilise_first):
    params = models.as_shared(models.lenet_init(np.random.default_rng(0), "float32"))
    x, y = T.tensor4("x"), T.ivector("y")
    cost = models.nll(models.lenet_output(x, params), y)
    return _step([x, y], cost, list(params.values()), stabilise_first)


def _step(inputs, cost, params, stabilise_first):
    if stabilise_first:
        cost = rewrite_graph([cost], phases=("canonicalize", "stabilize"), pinned=params)[0]
    grads = T.grad(cost, params)
    return symconv.function(inputs, cost, updates=[(p, p - 0.1 * g)
                                                   for p, g in zip(params, grads)])


@pytest.mark.parametrize("build", [_logistic_step, _lenet_step], ids=["logistic", "lenet"])
def test_tutorial_step_keeps_the_fused_backward_and_no_more_nodes(build):
    with symconv.config.change_flags(floatX="float32"):
        pure, before = build(False), build(True)
    ops = [node.op.name for node in pure.program.nodes]
    assert ops.count("crossentropy_softmax_1hot_grad") == 1
    assert ops.count("crossentropy_softmax_1hot") == 1
    assert not {"softmax", "log", "inc_subtensor", "logsoftmax"} & set(ops)
    assert len(ops) <= len(before.program.nodes)


# ---- the rules added for the backward forms: fire on their pattern, not on near-misses -----

def _rewritten_ops(out):
    from symconv.graph import toposort_vars
    (new,) = rewrite_graph([out], phases=("canonicalize", "stabilize"))
    return [v.owner.op.name for v in toposort_vars([new]) if v.owner is not None]


def _same_values(inputs, out, values):
    got = symconv.function(inputs, out, on_unused_input="ignore")(*values)
    with symconv.config.change_flags(optimizer="None"):
        want = symconv.function(inputs, out, on_unused_input="ignore")(*values)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("build,fires", [
    (lambda x: 1 - T.nnet.sigmoid(x), True),
    (lambda x: 2 - T.nnet.sigmoid(x), False),
    (lambda x: T.nnet.sigmoid(x) - 1, False),
    (lambda x: 1 - T.tanh(x), False),
])
def test_one_minus_sigmoid(build, fires, rng):
    # 1 - sigmoid(x) -> sigmoid(-x): no subtraction left
    x = T.dvector("x")
    ops = _rewritten_ops(build(x))
    assert ("sub" not in ops and ops.count("sigmoid") == 1) == fires
    _same_values([x], build(x), [rng.normal(size=5) * 4])


@pytest.mark.parametrize("power,fires", [(-1, True), (-2, True), (-3, True), (2, False),
                                         (-2.5, True)])
def test_power_of_one_plus_exp(power, fires, rng):
    # (1 + exp(t)) ** -c -> sigmoid(-t) ** c
    x = T.dvector("x")
    out = (1 + T.exp(-x)) ** power
    ops = _rewritten_ops(out)
    assert ("sigmoid" in ops and "exp" not in ops) == fires
    _same_values([x], out, [rng.normal(size=5) * 4])
    assert ("sigmoid" in _rewritten_ops((2 + T.exp(-x)) ** power)) is False


@pytest.mark.parametrize("build,fires", [
    (lambda x, y: T.exp(x) * T.nnet.sigmoid(-x) * y, True),
    (lambda x, y: y * T.exp(-x - 2) * T.nnet.sigmoid(x + 2), True),
    (lambda x, y: T.exp(x) * T.sqr(T.nnet.sigmoid(-x)), True),
    (lambda x, y: T.exp(x) * T.nnet.sigmoid(x), False),
    (lambda x, y: T.exp(x) * T.nnet.sigmoid(-y), False),
    (lambda x, y: (y * T.exp(x)) / (1 + T.exp(x)), True),
    (lambda x, y: (y * T.exp(y)) / (1 + T.exp(x)), False),
])
def test_sigmoid_times_exp(build, fires, rng):
    # exp(t) * sigmoid(-t) -> sigmoid(t);  (a * exp(t)) / (1 + exp(t)) -> a * sigmoid(t)
    x, y = T.dvectors("x", "y")
    assert ("exp" not in _rewritten_ops(build(x, y))) == fires
    _same_values([x, y], build(x, y), [rng.normal(size=5) * 4, rng.normal(size=5)])


@pytest.mark.parametrize("build,fires", [
    (lambda a, b, c: T.exp(a) * (c / (T.exp(a) + T.exp(b))), True),
    (lambda a, b, c: 2 * (c / (T.exp(b) + T.exp(a) + T.exp(2 * a))) * T.exp(2 * a), True),
    (lambda a, b, c: T.exp(c) * (a / (T.exp(a) + T.exp(b))), False),
    (lambda a, b, c: T.exp(a) * (c / (T.exp(a) + b)), False),
])
def test_exp_over_sum_of_exps(build, fires, rng):
    # exp(t) * (a / (exp(t) + exp(u))) -> a * exp(t - log(exp(t) + exp(u))), and that log is
    # the shifted log-sum-exp: the result needs no exp of an unshifted exponent
    a, b, c = T.dvectors("a", "b", "c")
    out = build(a, b, c)
    ops = _rewritten_ops(out)
    assert ("maximum" in ops and "true_div" not in ops) == fires
    _same_values([a, b, c], out, [rng.normal(size=4) * 3 for _ in range(3)])


def test_fast_compile_runs_the_stabilize_rules_and_no_other_phase():
    # a NaN is a wrong answer, not a slow one: FAST_COMPILE stabilises; it still skips the
    # specialize phase (no fused elementwise nodes) and the canonicalize-only algebra
    x = T.dvector("x")
    f = symconv.function([x], [T.log(1 - T.nnet.sigmoid(x)) * 1, T.exp(x) + 1],
                         mode="FAST_COMPILE")
    ops = [node.op.name for node in f.program.nodes]
    assert "softplus" in ops and "log" not in ops
    assert "fused_elemwise" not in ops and "mul" in ops
    np.testing.assert_allclose(f(np.array([30.0, -800.0]))[0], [-30.0, 0.0], atol=1e-12)


def test_second_order_gradient_of_the_hand_written_logistic_is_finite():
    # the second T.grad differentiates the first's pure graph; its (a * exp(t)) / (1 + exp(t))
    # becomes a * sigmoid(t) when compiled. d2/dx2 of softplus(-x) = sigmoid(x) * sigmoid(-x)
    x = T.dvector("x")
    gx = T.grad(-T.log(1 / (1 + T.exp(-x))).sum(), x)
    hx = T.grad(gx.sum(), x)
    got = symconv.function([x], hx)(VALUES)
    np.testing.assert_allclose(got, _sigmoid(VALUES) * _sigmoid(-VALUES), rtol=1e-10,
                               atol=1e-20)
    with symconv.config.change_flags(optimizer="None"), np.errstate(all="ignore"):
        assert not np.isfinite(symconv.function([x], hx)(VALUES)).all()


def test_logistic_forms_of_discrete_inputs_rewrite_without_failing():
    # -t of a bool is refused and of an unsigned int wraps: the rules negate in float
    import warnings
    x, u = T.bvector("x"), T.vector("u", dtype="uint8")
    t = (x > 0) + (x < 2)
    outs = [1 / (1 + T.exp(t)), T.log(1 - T.nnet.sigmoid(t)), 1 / (1 + T.exp(u)),
            (1 + T.exp(u)) ** -2, 1 - T.nnet.sigmoid(u)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # a failing rule is reported as a warning
        f = symconv.function([x, u], outs)
    xv, uv = np.array([1, 0, 3], "int8"), np.array([0, 3, 250], "uint8")
    tv, uf = ((xv > 0) | (xv < 2)).astype("float32"), uv.astype("float32")
    with np.errstate(over="ignore"):
        want = [1 / (1 + np.exp(tv)), -np.logaddexp(0, tv), 1 / (1 + np.exp(uf)),
                (1 + np.exp(uf)) ** -2, _sigmoid(-uf)]
    for got, ref in zip(f(xv, uv), want):
        assert got.dtype == "float32"
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-30)
