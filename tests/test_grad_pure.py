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
