"""Elementwise fusion (specialize phase) and the executor's buffer reuse."""
from __future__ import annotations

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv import schedule
from symconv.ops.fused import ScalarProgram, Step, fused_elemwise
from symconv.rewrites.specialize import fuse_elemwise


def op_names(f) -> list[str]:
    return [n.op.name for n in f.program.nodes]


@pytest.fixture
def reference(monkeypatch):
    """A compiler of FAST_COMPILE functions with buffer reuse switched off."""
    def compile_(*args, **kw):
        with monkeypatch.context() as m:
            m.setattr(schedule, "plan_reuse", lambda *args: {})
            f = symconv.function(*args, mode="FAST_COMPILE", **kw)
        assert not f.program.reuse
        return f
    return compile_


def test_a_chain_becomes_one_fused_node():
    x, y = T.matrix("x"), T.vector("y")
    f = symconv.function([x, y], T.tanh(x * 2 + y) * x)
    names = op_names(f)
    assert names.count("fused_elemwise") == 1
    assert not {"tanh", "add", "mul"} & set(names)
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(x.dtype)
    b = np.arange(4, dtype=x.dtype)
    np.testing.assert_allclose(f(a, b), np.tanh(a * 2 + b) * a, rtol=1e-6)


def test_no_fusion_across_an_external_client():
    x = T.matrix("x")
    t = T.exp(x)
    f = symconv.function([x], [t, t * 2 + 1])        # t is an output: it stays a node
    assert "exp" in op_names(f)
    fused = [n for n in f.program.nodes if n.op.name == "fused_elemwise"]
    assert len(fused) == 1 and "exp" not in repr(fused[0])
    u = T.exp(x)
    g = symconv.function([x], (u * 2) / u.sum())      # u has a non-elementwise client (sum)
    assert "exp" in op_names(g)
    a = np.random.default_rng(1).random((2, 3)).astype(x.dtype)
    np.testing.assert_allclose(g(a), np.exp(a) * 2 / np.exp(a).sum(), rtol=1e-5)


def test_a_diamond_inside_the_group_is_fused():
    x = T.matrix("x")
    t = x * 3
    f = symconv.function([x], t + T.exp(t))
    assert op_names(f).count("fused_elemwise") == 1 and len(f.program.nodes) == 1


def _random_graph(rng: np.random.Generator, inputs: list) -> list:
    unary = [T.tanh, T.sqr, lambda v: -v, T.nnet.sigmoid, abs, lambda v: T.exp(T.tanh(v))]
    binary = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, T.maximum,
              lambda a, b: T.switch(T.gt(a, b), a, b * 0.5)]
    values = list(inputs)
    for _ in range(rng.integers(3, 10)):
        if rng.random() < 0.4:
            v = unary[rng.integers(len(unary))](values[rng.integers(len(values))])
        else:
            a, b = (values[i] for i in rng.integers(len(values), size=2))
            v = binary[rng.integers(len(binary))](a, b)
        if rng.random() < 0.2:
            v = v + T.cast(T.gt(v, 0), v.dtype)     # a cast inside the group
        values.append(v)
    outs = [values[-1]]
    if rng.random() < 0.5:                            # an intermediate used outside too
        outs.append(values[len(inputs) + rng.integers(len(values) - len(inputs))].sum())
    return outs


@pytest.mark.parametrize("seed", range(12))
def test_fused_agrees_with_fast_compile_on_random_graphs(seed, reference):
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.matrix("y")
    r = T.row("r")
    outs = _random_graph(rng, [x, y, r])
    f = symconv.function([x, y, r], outs, on_unused_input="ignore")
    ref = reference([x, y, r], outs, on_unused_input="ignore")
    vals = [rng.standard_normal(s).astype(x.dtype) for s in ((4, 5), (4, 5), (1, 5))]
    kept = [v.copy() for v in vals]
    for _ in range(2):                                # reused buffers are not stale
        for got, want in zip(f(*vals), ref(*vals)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for v, k in zip(vals, kept):                      # inputs are never written
        np.testing.assert_array_equal(v, k)


def test_an_undeclared_broadcast_is_refused_by_the_fused_node():
    x, y = T.matrix("x"), T.matrix("y")
    f = symconv.function([x, y], T.tanh(x * 2 + y))
    assert "fused_elemwise" in op_names(f)
    with pytest.raises(ValueError, match="broadcastable"):
        f(np.ones((3, 4), x.dtype), np.ones((1, 4), x.dtype))


def test_the_scalar_program_is_the_fused_nodes_record():
    x, r = T.matrix("x"), T.row("r")
    (fused,) = fuse_elemwise([T.tanh(x * r) + T.cast(T.gt(x, 0), x.dtype)])
    program = fused.owner.kw["program"]
    assert program.inputs == (x.dtype, r.dtype, x.dtype)          # the constant 0 is an input
    assert [s.op for s in program.steps] == ["mul", "tanh", "gt", "cast", "add"]
    assert program.dtype == fused.dtype and program.steps[2].dtype == "bool"
    a = np.random.default_rng(8).standard_normal((3, 4))
    b = np.random.default_rng(9).standard_normal((1, 4))
    steps = list(program.values(np, [a, b, np.zeros((1, 1))]))
    np.testing.assert_allclose(steps[-1], np.tanh(a * b) + (a > 0))
    assert [v.dtype.name for v in steps] == [s.dtype for s in program.steps]


def test_a_scalar_program_refuses_bad_slots_and_input_dtypes():
    with pytest.raises(ValueError, match="step 1 \\(exp\\) reads slots \\(2,\\)"):
        ScalarProgram(("float64",), (Step("neg", (0,), "float64"), Step("exp", (2,), "float64")))
    program = ScalarProgram(("float64", "float64"), (Step("add", (0, 1), "float64"),))
    with pytest.raises(TypeError, match="reads inputs of dtypes .*float64.*got .*float32"):
        fused_elemwise(T.matrix("x"), T.fmatrix("y"), program=program)


def _mlp_step(rng: np.random.Generator, compile_):
    floatx = symconv.config.floatX
    x, y = T.matrix("x"), T.ivector("y")
    params = [symconv.shared(rng.standard_normal(s).astype(floatx) * 0.3, name=n)
              for n, s in (("W1", (8, 6)), ("b1", (6,)), ("W2", (6, 3)), ("b2", (3,)))]
    w1, b1, w2, b2 = params
    h = T.tanh(T.dot(x, w1) + b1)
    p = T.nnet.softmax(T.dot(h, w2) + b2)
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    cost = nll + 0.001 * (abs(w1).sum() + abs(w2).sum()) + 0.0001 * ((w1 ** 2).sum()
                                                                    + (w2 ** 2).sum())
    grads = T.grad(cost, params)
    f = compile_([x, y], cost, updates=[(v, v - 0.1 * g) for v, g in zip(params, grads)])
    return f, params


def test_mlp_training_step_with_updates_agrees_over_three_calls(reference):
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((5, 8)).astype(symconv.config.floatX)
    ys = rng.integers(0, 3, 5).astype("int32")
    f, fp = _mlp_step(np.random.default_rng(4), symconv.function)
    g, gp = _mlp_step(np.random.default_rng(4), reference)
    assert "fused_elemwise" in op_names(f) and f.program.reuse
    for _ in range(3):
        np.testing.assert_allclose(f(xs, ys), g(xs, ys), rtol=1e-5)
    for a, b in zip(fp, gp):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-5, atol=1e-6)


def test_softmax_regression_agrees(reference):
    rng = np.random.default_rng(5)
    floatx = symconv.config.floatX
    x, y = T.matrix("x"), T.ivector("y")
    w = T.matrix("w")
    b = T.vector("b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    outs = [cost, T.argmax(p, axis=1)] + T.grad(cost, [w, b])
    f = symconv.function([x, y, w, b], outs)
    ref = reference([x, y, w, b], outs)
    args = [rng.standard_normal((6, 4)).astype(floatx), rng.integers(0, 3, 6).astype("int32"),
            rng.standard_normal((4, 3)).astype(floatx), rng.standard_normal(3).astype(floatx)]
    for got, want in zip(f(*args), ref(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_grad_through_a_fused_node(reference):
    x, y = T.matrix("x"), T.row("y")
    out = T.tanh(x * y + 1) * x
    (fused,) = fuse_elemwise([out])
    assert fused.owner.op.name == "fused_elemwise"
    assert fused.owner.kw["program"].expand(fused.owner.inputs).owner.op.name == "mul"
    gx, gy = T.grad(fused.sum(), [x, y])
    want = T.grad(out.sum(), [x, y])
    f = reference([x, y], [gx, gy])
    g = reference([x, y], want)
    rng = np.random.default_rng(6)
    vals = [rng.standard_normal(s).astype(x.dtype) for s in ((3, 4), (1, 4))]
    for a, b in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_reuse_skips_function_inputs_and_live_buffers():
    x, w = T.matrix("x"), T.matrix("w")
    d = T.dot(x, w)
    f = symconv.function([x, w], [T.tanh(d + 1), d.sum()])
    # d is read by the sum after the fused node, so the fused node must not overwrite it
    fused = [n for n, node in enumerate(f.program.nodes) if node.op.name == "fused_elemwise"]
    order = [node.op.name for node in f.program.nodes]
    if order.index("sum") > fused[0]:
        assert fused[0] not in f.program.reuse
    a = np.random.default_rng(7).random((3, 3)).astype(x.dtype)
    b = np.eye(3, dtype=x.dtype)
    r = f(a, b)
    np.testing.assert_allclose(r[0], np.tanh(a + 1), rtol=1e-6)
    np.testing.assert_allclose(r[1], a.sum(), rtol=1e-5)
    h = symconv.function([x], T.tanh(x) + 1)
    assert not h.program.reuse                          # x is a function input
