"""Rewrite rules: each fires on its pattern, not on near-misses, and preserves values;
the stabilised forms stay finite where the naive graphs overflow."""
import warnings

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.ops import nnet as N
from tests.util import check_grad


def _ops(f):
    """The schedule's op names, with the ops inside fused elementwise nodes."""
    names = []
    for node in f.program.nodes:
        names.append(node.op.name)
        if node.op.name == "fused_elemwise":
            names += [step.op for step in node.kw["program"].steps]
    return names


def _agree(inputs, outputs, values, rtol=1e-10):
    fast = symconv.function(inputs, outputs, mode="FAST_RUN")(*values)
    with symconv.config.change_flags(optimizer="None"):
        slow = symconv.function(inputs, outputs, mode="FAST_RUN")(*values)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)
    return fast


def test_tutorial_nll_becomes_one_fused_crossentropy(rng):
    z, y = T.matrix("z"), T.ivector("y")
    cost = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    g = T.grad(cost, z)
    f = symconv.function([z, y], [cost, g])
    ops = _ops(f)
    assert "crossentropy_softmax_1hot" in ops and "crossentropy_softmax_1hot_grad" in ops
    assert "log" not in ops and "softmax" not in ops
    zv, yv = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2], "int32")
    _agree([z, y], [cost, g], [zv, yv])


def test_categorical_crossentropy_form_is_fused_too(rng):
    z, y = T.matrix("z"), T.ivector("y")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(z), y).mean()
    f = symconv.function([z, y], [cost, T.grad(cost, z)])
    assert "crossentropy_softmax_1hot" in _ops(f)


def test_stabilised_crossentropy_is_finite_at_large_logits():
    z, y = T.matrix("z"), T.ivector("y")
    cost = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    g = T.grad(cost, z)
    zv = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 5.0]])
    yv = np.array([1, 1], "int32")
    got_cost, got_g = symconv.function([z, y], [cost, g])(zv, yv)
    assert np.isfinite(got_cost) and np.isfinite(got_g).all()
    np.testing.assert_allclose(got_cost, 2000.0 / 2)
    np.testing.assert_allclose(got_g, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)
    with symconv.config.change_flags(optimizer="None"):
        naive = symconv.function([z, y], cost)(zv, yv)
    assert not np.isfinite(naive)


def test_near_misses_are_left_alone(rng):
    z, y = T.matrix("z"), T.ivector("y")
    rows = T.lvector("rows")
    # rows are not arange(y.shape[0]): no crossentropy fusion
    f = symconv.function([z, y, rows], T.log(T.nnet.softmax(z))[rows, y])
    assert "crossentropy_softmax_1hot" not in _ops(f) and "logsoftmax" in _ops(f)
    # log of exp without softmax: untouched
    g = symconv.function([z], T.log(T.exp(z) + 2))
    assert "softplus" not in _ops(g)
    # argmax over the first axis of a softmax is not argmax of the logits
    h = symconv.function([z], T.argmax(T.nnet.softmax(z), axis=0))
    assert "softmax" in _ops(h)


@pytest.mark.parametrize("build,op", [
    (lambda x: T.log(T.nnet.softmax(x)), "logsoftmax"),
    (lambda x: T.log(T.nnet.sigmoid(x)), "softplus"),
    (lambda x: T.log(1 - T.nnet.sigmoid(x)), "softplus"),
    (lambda x: T.log(1 + T.exp(x)), "softplus"),
    (lambda x: T.log(T.exp(x) + 1), "softplus"),
    (lambda x: T.log1p(T.exp(x)), "softplus"),
])
def test_stabilising_rules_fire_preserve_values_and_avoid_overflow(build, op, rng):
    x = T.matrix("x")
    out = build(x)
    f = symconv.function([x], out)
    assert op in _ops(f) and "log" not in _ops(f)
    _agree([x], [out], [rng.normal(size=(3, 4))])
    big = np.array([[1000.0, -1000.0, 0.5]])
    assert np.isfinite(f(big)).all()


def test_argmax_of_softmax_skips_the_softmax(rng):
    x = T.matrix("x")
    f = symconv.function([x], T.argmax(T.nnet.softmax(x), axis=1))
    assert "softmax" not in _ops(f)
    xv = rng.normal(size=(6, 5))
    np.testing.assert_array_equal(f(xv), xv.argmax(axis=1))


def test_identities_and_shape_facts(rng):
    x = T.matrix("x")
    fixed = T.TensorType("float64", shape=(3, 4))("fixed")
    f = symconv.function([x], [x * 1, x + 0, -(-x), x.dimshuffle(1, 0).dimshuffle(1, 0)])
    assert _ops(f) == []
    g = symconv.function([fixed], fixed * fixed.shape[1])
    assert "shape" not in _ops(g)
    np.testing.assert_allclose(g(np.ones((3, 4))), 4 * np.ones((3, 4)))
    # x * 1 where the constant broadcasts x to a larger shape is not an identity
    v = T.row("v")
    h = symconv.function([v], v * np.ones((3, 1)))
    assert h(np.ones((1, 2))).shape == (3, 2)


def test_merge_shares_equal_subexpressions():
    x = T.matrix("x")
    f = symconv.function([x], [T.tanh(x) + 1, T.tanh(x) * 2])
    assert _ops(f).count("tanh") == 1


def test_crossentropy_ops_forward_and_gradients(rng):
    zv = rng.normal(size=(4, 5))
    yv = np.array([4, 0, 2, 2], "int32")
    z = T.matrix("z")
    got = symconv.function([z], N.crossentropy_softmax_1hot(z, T.constant(yv)))(zv)
    e = np.exp(zv - zv.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, -np.log((e / e.sum(1, keepdims=True))[np.arange(4), yv]))
    check_grad(lambda v: N.crossentropy_softmax_1hot(v, T.constant(yv)), [zv])
    gv = rng.uniform(0.5, 1.5, size=4)
    check_grad(lambda g, v: N.crossentropy_softmax_1hot_grad(g, v, T.constant(yv)), [gv, zv])


def test_a_failing_rule_is_reported_and_skipped():
    from symconv.rewrite import register, _PHASES

    @register("canonicalize", ops=["exp"], name="broken_rule_for_test")
    def broken(node):
        raise RuntimeError("boom")
    try:
        x = T.vector("x")
        with pytest.warns(UserWarning, match="broken_rule_for_test failed"):
            f = symconv.function([x], T.exp(x))
        np.testing.assert_allclose(f(np.zeros(2)), [1.0, 1.0])
        with symconv.config.change_flags(on_opt_error="raise"):
            with pytest.raises(RuntimeError, match="boom"):
                symconv.function([x], T.exp(x))
    finally:
        rules = _PHASES["canonicalize"].rules
        rules[:] = [r for r in rules if r[0] != "broken_rule_for_test"]


def test_check_rewrites_flag_validates_types_after_every_phase(rng):
    x, y = T.matrix("x"), T.ivector("y")
    W = symconv.shared(rng.normal(size=(4, 3)), "W")
    cost = -T.mean(T.log(T.nnet.softmax(T.tanh(T.dot(x, W))))[T.arange(y.shape[0]), y])
    with symconv.config.change_flags(check_rewrites=True):
        f = symconv.function([x, y], cost, updates=[(W, W - 0.1 * T.grad(cost, W))])
    assert np.isfinite(f(rng.normal(size=(5, 4)), np.array([0, 1, 2, 1, 0], "int32")))
    from symconv.rewrite import _check_phase
    from symconv.graph import Node, TensorType
    bad = Node(T.exp, [x], (), TensorType("float32", (None, None))).out  # wrong dtype
    with symconv.config.change_flags(check_rewrites=True):
        with pytest.raises(TypeError, match="check_rewrites: after phase test"):
            _check_phase("test", [bad])


@pytest.mark.parametrize("exponent,op", [(2, "sqr"), (0.5, "sqrt"), (-1, "inv"), (1, None)])
def test_pow_by_a_constant_becomes_a_cheaper_op(exponent, op, rng):
    x = T.matrix("x")
    f = symconv.function([x], x ** exponent)
    assert "pow" not in _ops(f) and (op is None or op in _ops(f))
    xv = rng.uniform(0.5, 2, size=(3, 4))
    np.testing.assert_allclose(f(xv), xv ** exponent)
    g = symconv.function([x], x ** 3)
    assert "pow" in _ops(g)                 # no cheaper form: left alone


def test_cast_to_the_same_dtype_is_dropped(rng):
    from symconv.graph import apply
    from symconv.ops.elemwise import cast_op
    x = T.matrix("x")
    same = apply(cast_op, [x], (("dtype", x.dtype),))     # T.cast itself returns x unchanged
    other = apply(cast_op, [x], (("dtype", "float32"),))
    f = symconv.function([x], [same, other])
    assert _ops(f) == ["cast"]
    xv = rng.normal(size=(2, 3))
    got_same, got_other = f(xv)
    np.testing.assert_array_equal(got_same, xv)
    assert got_other.dtype == np.float32


def test_shapes_are_read_from_inputs_without_computing_results(rng):
    a, b, x = T.matrix("a"), T.matrix("b"), T.matrix("x")
    r, c = T.row("r"), T.col("c")
    outs = [T.dot(a, b).shape[1], T.dot(b.T, a.T).shape[0], T.tanh(x).shape, x.T.shape[0],
            T.nnet.softmax(x).shape[1], (c + r).shape[0], (c + r).shape[1]]
    f = symconv.function([a, b, x, r, c], outs)
    assert not {"dot", "tanh", "softmax", "add", "dimshuffle"} & set(_ops(f))
    values = [rng.normal(size=(2, 5)), rng.normal(size=(5, 6)), rng.normal(size=(3, 4)),
              rng.normal(size=(1, 4)), rng.normal(size=(7, 1))]
    with symconv.config.change_flags(optimizer="None"):
        naive = symconv.function([a, b, x, r, c], outs, on_unused_input="ignore")
    for got, want in zip(f(*values), naive(*values)):
        np.testing.assert_array_equal(got, want)


def test_shape_facts_near_misses():
    # col + row: neither input has the result's pattern, so shape() still needs the sum;
    # argmax (not in the shape table) keeps its node too
    r, c, x = T.row("r"), T.col("c"), T.matrix("x")
    f = symconv.function([r, c, x], [(c + r).shape, T.argmax(x, axis=1).shape[0]])
    assert "add" in _ops(f) and "argmax" in _ops(f)
    got = f(np.ones((1, 4)), np.ones((3, 1)), np.ones((5, 2)))
    np.testing.assert_array_equal(got[0], [3, 4])
    assert int(got[1]) == 5


@pytest.mark.parametrize("build,kept,absent", [
    (lambda x: x * 2, "mul", None),                              # mul_by_one
    (lambda x: x + 1, "add", None),                              # add_zero
    (lambda x: 0 - x, "sub", None),                              # x - 0 only, not 0 - x
    (lambda x: -(-x * 2), "neg", None),                          # double_negation
    (lambda x: x.dimshuffle(1, 0), "dimshuffle", None),          # identity dimshuffle
    (lambda x: x ** 3, "pow", "sqr"),                            # pow_by_constant
    (lambda x: T.log(T.nnet.softmax(x) + 1e-8), "softmax", "logsoftmax"),
    (lambda x: T.log(T.nnet.sigmoid(x) * 2), "sigmoid", "softplus"),
    (lambda x: T.log(2 - T.nnet.sigmoid(x)), "sigmoid", "softplus"),
    (lambda x: T.log(1 + T.exp(x) * 2), "exp", "softplus"),
    (lambda x: T.log(1 + T.tanh(x)), "tanh", "softplus"),
])
def test_rules_leave_near_misses_alone_and_values_unchanged(build, kept, absent, rng):
    x = T.matrix("x")
    out = build(x)
    f = symconv.function([x], out)
    assert kept in _ops(f)
    assert absent is None or absent not in _ops(f)
    _agree([x], [out], [rng.uniform(0.1, 0.9, size=(3, 4))])


def test_log_one_plus_exp_keeps_a_one_that_sets_the_shape(rng):
    x = T.drow("x")
    out = T.log(np.ones((3, 1)) + T.exp(x))   # softplus(x) alone would be a row
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = symconv.function([x], out)
    assert f(rng.normal(size=(1, 4))).shape == (3, 4)


def test_gradient_broadcasts_are_absorbed_by_elementwise_consumers(rng):
    W = symconv.shared(rng.normal(size=(4, 3)), "W")
    x = T.matrix("x")
    cost = 1e-3 * (W ** 2).sum() + 1e-2 * abs(W).sum() + (T.tanh(x) * W).sum()
    g = T.grad(cost, W)
    f = symconv.function([x], g)
    assert "broadcast_to" not in _ops(f) and "alloc" not in _ops(f)
    assert [n.op.name for n in f.program.nodes] == ["fused_elemwise"]
    _agree([x], [g], [rng.normal(size=(4, 3))])


def test_broadcast_is_kept_where_it_gives_the_shape(rng):
    x, v = T.matrix("x"), T.vector("v")
    alone = T.exp(T.alloc(v, x.shape[0], v.shape[0]))   # nothing else fixes axis 0
    scaled = T.alloc(v, x.shape[0], v.shape[0]) * 2    # merged with the alloc above
    f = symconv.function([x, v], [alone, scaled])
    assert "alloc" in _ops(f)
    xv, vv = rng.normal(size=(3, 2)), rng.normal(size=4)
    got = _agree([x, v], [alone, scaled], [xv, vv])
    assert got[0].shape == (3, 4) and got[1].shape == (3, 4)


def test_what_stabilize_builds_is_canonicalized_too(rng):
    # the NLL's mean divides by shape(-xent)[0]; read from the cross-entropy node itself
    z, y = T.matrix("z"), T.ivector("y")
    cost = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    f = symconv.function([z, y], cost)
    shapes = [n for n in f.program.nodes if n.op.name == "shape"]
    assert len(shapes) == 1 and shapes[0].inputs[0].owner.op.name == "crossentropy_softmax_1hot"
    _agree([z, y], [cost], [rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0], "int32")])


def test_multiplication_by_zero_drops_the_other_operand(rng):
    # the tutorials' L1 term weighted 0.0: neither abs(W) nor sign(W) is computed any more
    W = symconv.shared(rng.normal(size=(4, 3)), "W")
    x = T.matrix("x")
    cost = T.tanh(T.dot(x, W)).sum() + 0.0 * abs(W).sum() + 1e-3 * (W ** 2).sum()
    g = T.grad(cost, W)
    f = symconv.function([x], [cost, g, 0 * x])
    assert not {"abs", "sgn"} & set(_ops(f))
    got = _agree([x], [cost, g, 0 * x], [rng.normal(size=(2, 4))])
    assert got[2].shape == (2, 4) and not got[2].any()
    near = symconv.function([x], 1e-30 * abs(x))       # a tiny weight is not zero
    assert "abs" in _ops(near)


def _sigmoid(v):
    return 0.5 * (1 + np.tanh(v / 2))


def _stable_softmax(v):
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


BACKWARD_CASES = {
    # name: (cost of x or z, d cost / d input computed stably in NumPy)
    "log_sigmoid": (lambda x: T.log(T.nnet.sigmoid(x)).sum(), lambda v: _sigmoid(-v)),
    "log_one_minus_sigmoid": (lambda x: T.log(1 - T.nnet.sigmoid(x)).sum(),
                              lambda v: -_sigmoid(v)),
    "binary_crossentropy": (
        lambda x: T.nnet.binary_crossentropy(T.nnet.sigmoid(x), T.ones_like(x)).sum(),
        lambda v: -_sigmoid(-v)),
    "log_softmax": (lambda z: T.log(T.nnet.softmax(z)).sum(),
                    lambda v: 1 - v.shape[1] * _stable_softmax(v)),
}


@pytest.mark.parametrize("name", sorted(BACKWARD_CASES))
def test_backward_forms_are_stabilised_when_compiled(name):
    # T.grad's graph (the same under every flag, here built under optimizer=None) is
    # stabilised when compiled
    cost_of, want = BACKWARD_CASES[name]
    if name == "log_softmax":
        x = T.matrix("z")
        v = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 5.0], [0.1, 0.2, 0.3]])
    else:
        x = T.vector("x")
        v = np.array([-800.0, -30.0, 0.0, 0.7, 30.0, 800.0])
    with symconv.config.change_flags(optimizer="None"):
        g = T.grad(cost_of(x), x)    # the gradient of the graph as written
    got = symconv.function([x], g)(v)
    np.testing.assert_allclose(got, want(v), rtol=1e-10, atol=1e-12)
    with symconv.config.change_flags(optimizer="None"), np.errstate(all="ignore"):
        naive = symconv.function([x], g)(v)
    assert not np.isfinite(naive).all()     # the rewrites are what keeps it finite
