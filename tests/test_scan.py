"""scan and its views against plain NumPy loops: every form of sequences / outputs_info / taps,
n_steps, go_backwards, until, updates made inside the loop, pickling, and the loop tutorial."""
import json
import pathlib
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.scan_module import until

REF = json.loads((pathlib.Path(__file__).parent / "fixtures" /
                  "scan_theano_reference.json").read_text())


@pytest.fixture(autouse=True)
def _strict_rewrites():
    # a rewrite that fails on a scan's inner graph must fail the test, not warn
    with symconv.config.change_flags(on_opt_error="raise"):
        yield


def test_map_over_one_sequence(rng):
    x, w = T.dmatrix("x"), T.dmatrix("w")
    out, updates = symconv.map(lambda row: T.tanh(T.dot(row, w)), sequences=x)
    assert updates == OrderedDict()
    xv, wv = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    got = symconv.function([x, w], out)(xv, wv)
    np.testing.assert_allclose(got, np.tanh(xv @ wv))


def test_sit_sot_several_sequences_and_non_sequences(rng):
    x, y, h0, w = T.dmatrix("x"), T.dvector("y"), T.dvector("h0"), T.dmatrix("w")
    b = T.dvector("b")

    def step(x_t, y_t, h, w, b):
        return T.tanh(T.dot(h, w) + x_t * y_t) + b

    hs, _ = symconv.scan(step, sequences=[x, y], outputs_info=h0, non_sequences=[w, b])
    xv, yv = rng.normal(size=(6, 3)), rng.normal(size=4)
    h0v, wv, bv = rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
    got = symconv.function([x, y, h0, w, b], hs)(xv, yv, h0v, wv, bv)
    h, want = h0v, []
    for t in range(4):    # the shorter sequence fixes the number of steps
        h = np.tanh(h @ wv + xv[t] * yv[t]) + bv
        want.append(h)
    np.testing.assert_allclose(got, np.array(want))


def test_several_outputs_mixing_recurrent_and_mapped(rng):
    x, a0, b0 = T.dvector("x"), T.dscalar("a0"), T.dvector("b0")

    def step(x_t, a, b):   # outputs: a (fed back), b (fed back), c (not fed back)
        return a + x_t, b * 0.5 + a, a * x_t

    (a, b, c), _ = symconv.scan(step, sequences=x, outputs_info=[a0, b0, None])
    xv, b0v = rng.normal(size=5), rng.normal(size=2)
    got = symconv.function([x, a0, b0], [a, b, c])(xv, 0.3, b0v)
    av, bv, want = 0.3, b0v, ([], [], [])
    for t in range(5):
        av, bv, cv = av + xv[t], bv * 0.5 + av, av * xv[t]
        for lst, v in zip(want, (av, bv, cv)):
            lst.append(v)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.array(w))


@pytest.mark.parametrize("backwards", [False, True])
def test_sequence_and_output_taps_match_theano(backwards):
    case = REF["taps"]
    s, i0 = T.dmatrix("s"), T.dmatrix("i0")
    res, _ = symconv.scan(
        lambda a, b, c, o3, o1: 0.5 * o1 - 0.25 * o3 + a * 1.0 + 2.0 * b - c * 0.5,
        sequences=dict(input=s, taps=[-2, 0, 1]),
        outputs_info=dict(initial=i0, taps=[-3, -1]), go_backwards=backwards)
    sv, initv = np.array(case["s"]), np.array(case["init"])
    got = symconv.function([s, i0], res)(sv, initv)
    np.testing.assert_allclose(got, case[f"back{int(backwards)}"]["out"], rtol=1e-12)
    # and against a NumPy loop: step t reads s[t + 2 + k] for tap k (reversed: s[n + 1 + k - t])
    n = sv.shape[0] - 3
    hist = list(initv[:3])
    for t in range(n):
        a, b, c = (sv[n + 1 + k - t] if backwards else sv[t + 2 + k] for k in (-2, 0, 1))
        hist.append(0.5 * hist[-1] - 0.25 * hist[-3] + a + 2.0 * b - 0.5 * c)
    np.testing.assert_allclose(got, np.array(hist[3:]))


def test_taps_are_passed_in_the_order_given():
    x0 = T.dvector("x0")
    res, _ = symconv.scan(lambda older, newer: newer * 10 + older,
                          outputs_info=dict(initial=x0, taps=[-2, -1]), n_steps=3)
    res2, _ = symconv.scan(lambda newer, older: newer * 10 + older,
                           outputs_info=dict(initial=x0, taps=[-1, -2]), n_steps=3)
    f = symconv.function([x0], [res, res2])
    got, got2 = f(np.array([1.0, 2.0]))
    np.testing.assert_allclose(got, [21.0, 212.0, 2141.0])
    np.testing.assert_allclose(got2, got)


def test_n_steps_symbolic_constant_and_negative():
    q, n = T.dvector("q"), T.iscalar("n")
    res, _ = symconv.scan(lambda a, acc: acc + a, sequences=q,
                          outputs_info=T.constant(0.0, dtype="float64"), n_steps=n)
    f = symconv.function([q, n], res)
    np.testing.assert_allclose(f(np.arange(6.0), 4), REF["n_steps"]["n4"])
    assert REF["n_steps"]["n-4"] == "error: IndexError"   # Theano refuses it at run time too
    with pytest.raises(IndexError, match="n_steps is -4"):
        f(np.arange(6.0), -4)
    with pytest.raises(ValueError, match="sequence 0 .* has 6 steps but the loop runs 8"):
        f(np.arange(6.0), 8)
    # a constant negative n_steps runs backwards (as go_backwards)
    back, _ = symconv.scan(lambda a, acc: acc + a, sequences=q,
                           outputs_info=T.constant(0.0, dtype="float64"), n_steps=-3)
    np.testing.assert_allclose(symconv.function([q], back)(np.arange(6.0)), [5.0, 9.0, 12.0])


def test_n_steps_without_sequences_and_errors():
    a = T.dvector("a")
    with pytest.raises(ValueError, match="no information about the number of steps"):
        symconv.scan(lambda p: p * 2, outputs_info=a)
    with pytest.raises(ValueError, match="n_steps must be an integer"):
        symconv.scan(lambda p: p * 2, outputs_info=a, n_steps=T.dscalar())
    with pytest.raises(TypeError, match="same dtype"):
        symconv.scan(lambda p: T.cast(p, "float32"), outputs_info=a, n_steps=2)
    with pytest.raises(ValueError, match="returned 1 outputs but outputs_info has 2"):
        symconv.scan(lambda p, q: p * 2, outputs_info=[a, a], n_steps=2)
    with pytest.raises(ValueError, match="taps .* must be distinct and negative"):
        symconv.scan(lambda p: p, outputs_info=dict(initial=T.dmatrix(), taps=[0]), n_steps=2)


def test_until_stops_after_the_step_where_the_condition_holds():
    c = T.dscalar("c")
    res, _ = symconv.scan(lambda p: (p * 2, until(p * 2 > 40)), outputs_info=c, n_steps=100)
    np.testing.assert_allclose(symconv.function([c], res)(1.5), REF["until"]["out"])
    # with a sequence, and with updates between outputs and the condition
    k = symconv.shared(np.int64(0), name="k")
    x = T.dvector("x")
    out, upd = symconv.scan(lambda x_t: (x_t * 2, {k: k + 1}, until(x_t > 2)), sequences=x)
    f = symconv.function([x], out, updates=upd)
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0, 4.0])), [2.0, 4.0, 6.0])
    assert k.get_value() == 3


def test_updates_returned_by_the_step_and_default_updates():
    k = symconv.shared(np.int64(0), name="k")
    n = T.iscalar("n")
    _, upd = symconv.scan(lambda: {k: k + 1}, n_steps=n)
    assert list(upd) == [k]
    symconv.function([n], [], updates=upd)(5)
    assert k.get_value() == 5
    # a shared variable with a default update used inside the step is updated at every step
    # and its final value returned among the updates (as a random stream's state)
    c = symconv.shared(np.float64(1.0), name="c")
    c.default_update = c * 2
    x = T.dvector("x")
    out, upd = symconv.scan(lambda x_t: x_t * c, sequences=x)
    assert list(upd) == [c]
    f = symconv.function([x], out, updates=upd)
    np.testing.assert_allclose(f(np.ones(4)), [1.0, 2.0, 4.0, 8.0])
    assert c.get_value() == 16.0
    # passed as a non-sequence, an expression of it is a fixed value for the whole loop
    d = c * 1.0
    out2, upd2 = symconv.scan(lambda x_t, d: x_t * d, sequences=x, non_sequences=d)
    assert list(upd2) == []
    np.testing.assert_allclose(symconv.function([x], out2, no_default_updates=True)(
        np.ones(3)), [16.0] * 3)


def test_outputs_and_updates_in_every_accepted_order():
    k = symconv.shared(np.float64(0.0), name="k")
    x = T.dvector("x")
    forms = [lambda x_t: [x_t * 2],
             lambda x_t: ([x_t * 2], {k: k + x_t}),
             lambda x_t: (x_t * 2, [(k, k + x_t)]),
             lambda x_t: ([x_t * 2], OrderedDict([(k, k + x_t)]), until(x_t > 10))]
    for form in forms:
        k.set_value(0.0)
        out, upd = symconv.scan(form, sequences=x)
        got = symconv.function([x], out, updates=upd)(np.array([1.0, 2.0]))
        np.testing.assert_allclose(got, [2.0, 4.0])
    _, upd = symconv.scan(lambda x_t: ({k: k + x_t}, until(x_t > 1.5)), sequences=x)
    k.set_value(0.0)
    symconv.function([x], [], updates=upd)(np.array([1.0, 2.0, 3.0]))
    assert k.get_value() == 3.0
    with pytest.raises(ValueError, match="outputs must come before the updates"):
        symconv.scan(lambda x_t: ({k: k + x_t}, x_t * 2), sequences=x)


def test_shared_variables_and_outer_expressions_used_without_being_passed(rng):
    w = symconv.shared(rng.normal(size=(3, 3)), name="w")
    x, scale = T.dmatrix("x"), T.dscalar("scale")
    big = T.dot(w, w) * scale        # loop-invariant: computed once, outside the loop
    out, upd = symconv.scan(lambda row: T.dot(row, big), sequences=x)
    assert upd == OrderedDict()
    spec = out.owner.inputs[0].owner.kw["spec"]
    assert not any(node.op.name == "dot" and node.inputs[1].owner is not None
                   for node in symconv.graph.toposort(spec.inner_outputs))
    xv = rng.normal(size=(4, 3))
    got = symconv.function([x, scale], out)(xv, 0.5)
    np.testing.assert_allclose(got, xv @ (w.get_value() @ w.get_value() * 0.5))
    with pytest.raises(ValueError, match="strict=True.*shared variable w"):
        symconv.scan(lambda row: T.dot(row, w), sequences=x, strict=True)
    symconv.scan(lambda row, w: T.dot(row, w) * scale, sequences=x, non_sequences=w,
                 strict=True)


def test_reduce_foldl_foldr(rng):
    x = T.dvector("x")
    z = T.constant(0.0, dtype="float64")
    total, _ = symconv.reduce(lambda v, acc: acc + v, sequences=x, outputs_info=z)
    left, _ = symconv.foldl(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=z)
    right, _ = symconv.foldr(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=z)
    xv = rng.normal(size=5)
    got = symconv.function([x], [total, left, right])(xv)
    want_l = want_r = 0.0
    for v, w in zip(xv, xv[::-1]):
        want_l, want_r = want_l * 2 + v, want_r * 2 + w
    np.testing.assert_allclose(got, [xv.sum(), want_l, want_r])


def test_step_errors_name_the_user_line_and_the_step(rng):
    x, w = T.dmatrix("x"), T.dmatrix("w")
    out, _ = symconv.scan(lambda row, h: T.dot(h, w) + row, sequences=x,
                          outputs_info=T.zeros_like(x[0]))
    f = symconv.function([x, w], out)
    with pytest.raises(ValueError, match=r"(?s)scan scan_fn, step 0.*test_scan.py"):
        f(rng.normal(size=(3, 2)), rng.normal(size=(3, 3)))


def _scan_modes(f) -> list:
    return [n.kw["spec"].mode for n in f.maker.fgraph.toposort() if n.op.name == "scan"]


def test_the_step_is_compiled_in_the_functions_mode_unless_scan_has_its_own():
    # Theano: scan(mode=None) computes a step as the entire function does
    x = T.dvector("x")
    logs, _ = symconv.scan(lambda a: T.log(a) * 2, sequences=[x])
    guarded = symconv.function([x], logs.sum(), mode="NanGuardMode")
    assert _scan_modes(guarded) == ["NanGuardMode"]
    # the NaN is caught inside the step, at its op, not when the loop's result comes out
    with pytest.raises(FloatingPointError, match=r"(?s)scan scan_fn, step 1:.*log"), \
            np.errstate(invalid="ignore"):
        guarded(np.array([1.0, -1.0, 2.0]))
    assert _scan_modes(symconv.function([x], logs.sum())) == [None]       # config.mode
    own, _ = symconv.scan(lambda a: T.log(a) * 2, sequences=[x], mode="FAST_COMPILE")
    assert _scan_modes(symconv.function([x], own.sum(), mode="NanGuardMode")) == ["FAST_COMPILE"]
    np.testing.assert_allclose(symconv.function([x], logs, mode="FAST_COMPILE")([1.0, 2.0]),
                               2 * np.log([1.0, 2.0]))


def test_shape_change_between_steps_is_an_error():
    v = T.dvector("v")
    out, _ = symconv.scan(lambda n: T.arange(n, dtype="float64") * v[0], sequences=T.arange(1, 4))
    with pytest.raises(ValueError, match="same shape"):
        symconv.function([v], out)(np.ones(1))


def test_pickled_function_with_a_scan_keeps_working(rng):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    w = symconv.shared(rng.normal(size=(3, 3)) * 0.5, name="w")
    hs, _ = symconv.scan(lambda x_t, h: T.tanh(T.dot(h, w) + x_t), sequences=x,
                         outputs_info=h0)
    cost = (hs ** 2).sum()
    f = symconv.function([x, h0], [hs, T.grad(cost, w)])
    xv, h0v = rng.normal(size=(4, 3)), rng.normal(size=3)
    want = f(xv, h0v)
    g = pickle.loads(pickle.dumps(f))
    for a, b in zip(g(xv, h0v), want):
        np.testing.assert_allclose(a, b)


def test_scan_in_float32_keeps_the_dtype(rng):
    x = T.fmatrix("x")
    out, _ = symconv.scan(lambda row, acc: acc + row, sequences=x,
                          outputs_info=T.zeros_like(x[0]))
    xv = rng.normal(size=(3, 2)).astype("float32")
    got = symconv.function([x], out)(xv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.cumsum(xv, axis=0), rtol=1e-6)


# ---- the loop tutorial, in our own words -------------------------------------------------


def test_tutorial_power_keeps_only_the_last_value():
    a, k = T.dvector("a"), T.iscalar("k")
    result, updates = symconv.scan(lambda prior, base: prior * base,
                                   outputs_info=T.ones_like(a), non_sequences=a, n_steps=k)
    power = symconv.function([a, k], result[-1], updates=updates)
    np.testing.assert_allclose(power(np.arange(6.0), 3), np.arange(6.0) ** 3)


def test_tutorial_polynomial_as_map_and_as_reduction():
    coeffs, x = T.dvector("coeffs"), T.dscalar("x")
    powers = T.arange(1000)
    terms, _ = symconv.scan(lambda c, p, free: c * free ** p, outputs_info=None,
                            sequences=[coeffs, powers], non_sequences=x)
    acc, _ = symconv.scan(lambda c, p, prior, free: prior + c * free ** p,
                          sequences=[coeffs, powers],
                          outputs_info=T.as_tensor_variable(np.float64(0)), non_sequences=x)
    f = symconv.function([coeffs, x], [terms.sum(), acc[-1]])
    cv = np.array([1.0, 0.0, 2.0, -1.0])
    want = np.polyval(cv[::-1], 3.0)
    np.testing.assert_allclose(f(cv, 3.0), [want, want])


def test_tutorial_jacobian_by_scanning_over_indices(rng):
    v, a = T.dvector("v"), T.dmatrix("a")
    y = T.tanh(T.dot(v, a))
    jac, _ = symconv.scan(lambda i: T.grad(y[i], v), sequences=[T.arange(y.shape[0])])
    vv, av = rng.normal(size=4), rng.normal(size=(4, 3))
    got = symconv.function([a, v], jac)(av, vv)
    np.testing.assert_allclose(got, ((1 - np.tanh(vv @ av) ** 2) * av).T)


def test_tutorial_trace_and_sequence_with_two_taps(rng):
    x = T.dmatrix("x")
    res, _ = symconv.scan(lambda i, j, acc: x[i, j] + acc,
                          sequences=[T.arange(x.shape[0]), T.arange(x.shape[1])],
                          outputs_info=np.float64(0))
    xv = rng.normal(size=(4, 5))
    np.testing.assert_allclose(symconv.function([x], res[-1])(xv), np.trace(xv))
    x2, u, vm = T.dmatrix("x2"), T.dmatrix("u"), T.dmatrix("vm")
    n = T.iscalar("n")
    seq, _ = symconv.scan(lambda tm2, tm1: T.dot(tm2, u) + T.tanh(T.dot(tm1, vm)),
                          n_steps=n, outputs_info=[dict(initial=x2, taps=[-2, -1])])
    x2v, uv, vmv = rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    hist = [x2v[0], x2v[1]]
    for _ in range(6):
        hist.append(hist[-2] @ uv + np.tanh(hist[-1] @ vmv))
    np.testing.assert_allclose(symconv.function([x2, u, vm, n], seq)(x2v, uv, vmv, 6),
                               np.array(hist[2:]))


def test_tutorial_rnn_step(rng):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    w, u, b = T.dmatrix("w"), T.dmatrix("u"), T.dvector("b")
    y_w = T.dmatrix("y_w")

    def step(x_t, h_tm1, w, u, b, y_w):
        h = T.tanh(T.dot(x_t, w) + T.dot(h_tm1, u) + b)
        return h, T.nnet.softmax(T.dot(h, y_w).dimshuffle("x", 0))[0]

    (hs, ys), _ = symconv.scan(step, sequences=x, outputs_info=[h0, None],
                               non_sequences=[w, u, b, y_w])
    vals = [rng.normal(size=s) for s in [(5, 3), (4,), (3, 4), (4, 4), (4,), (4, 2)]]
    got_h, got_y = symconv.function([x, h0, w, u, b, y_w], [hs, ys])(*vals)
    xv, h, wv, uv, bv, ywv = vals
    for t in range(5):
        h = np.tanh(xv[t] @ wv + h @ uv + bv)
        e = np.exp(h @ ywv - (h @ ywv).max())
        np.testing.assert_allclose(got_h[t], h)
        np.testing.assert_allclose(got_y[t], e / e.sum())


# ---- graph structure, rewrites and printing -------------------------------------------------


def _scan_specs(fn):
    return [n.kw["spec"] for n in fn.program.nodes if n.op.name == "scan"]


def test_outputs_and_updates_are_scan_out_of_one_scan_node():
    k = symconv.shared(np.float64(0.0), name="k")
    x = T.dvector("x")
    (a, b), upd = symconv.scan(lambda x_t: ([x_t * 2, x_t + 1], {k: k + x_t}), sequences=x)
    parts = [(v.owner.op.name, v.owner.kw["part"]) for v in (a, b, upd[k])]
    assert parts == [("scan_out", "seq"), ("scan_out", "seq"), ("scan_out", "last")]
    assert a.owner.inputs[0] is b.owner.inputs[0] is upd[k].owner.inputs[0]
    # the gradient reaches the scan node as one scan_seed marker per output read
    seeds = []
    symconv.scan_module.op.scan_op.sum_grads = lambda terms: seeds.extend(terms) or terms
    try:
        T.grad(a.sum() + b.sum(), x)
    finally:
        symconv.scan_module.op.scan_op.sum_grads = list
    assert sorted(s.owner.op.name + str(s.owner.kw["index"]) for s in seeds) == \
        ["scan_seed0", "scan_seed1"]


def test_unread_outputs_are_pruned_and_only_last_values_kept():
    x, a0 = T.dvector("x"), T.dscalar("a0")
    (a, unused), _ = symconv.scan(lambda x_t, a: (a + x_t, T.exp(x_t)), sequences=x,
                                  outputs_info=[a0, None])
    f = symconv.function([x, a0], a[-1])
    (spec,) = _scan_specs(f)
    assert spec.n_outs == 1 and spec.store_all == [False]
    np.testing.assert_allclose(f(np.arange(5.0), 1.0), 11.0)
    g = symconv.function([x, a0], [a[-1], a])   # all steps read: everything is stored
    assert _scan_specs(g)[0].store_all == [True]
    np.testing.assert_allclose(g(np.arange(3.0), 0.0)[1], [0.0, 1.0, 3.0])


def test_debugprint_shows_the_inner_graph():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    out, _ = symconv.scan(lambda row, h: T.tanh(T.dot(h, w) + row), sequences=x,
                          outputs_info=T.zeros_like(x[0]), name="rnn")
    text = symconv.printing.debugprint(out, file="str")
    outer, inner = text.split("Inner graphs of the scan ops:")
    assert "scan_out" in outer and "scan{spec=rnn}" in outer and "tanh" not in outer
    lines = inner.strip().splitlines()
    assert lines[0].startswith("scan{spec=rnn}")
    assert lines[1].startswith(" >tanh") and any("x[t]" in ln for ln in lines)


def test_tutorial_random_mask_redrawn_at_every_step():
    # the loop tutorial's binomial example; the expected values are its Theano output
    streams = pytest.importorskip("symconv.tensor.shared_randomstreams",
                                  reason="RandomStreams is not in this tree")
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.dvector("b")
    d = streams.RandomStreams(1234).binomial(size=w[1].shape)
    results, updates = symconv.scan(lambda v: T.tanh(T.dot(v, w) + b) * d, sequences=x)
    assert len(updates) == 1     # the stream's state, advanced at every step
    f = symconv.function([x, w, b], results, updates=updates, allow_input_downcast=True)
    got = f(np.eye(10, 2), np.ones((2, 2)), np.ones(2))
    a, c = 0.96402758, 0.76159416
    np.testing.assert_allclose(got, [[a, 0], [0, a], [0, 0], [c, c], [c, 0], [0, c], [0, c],
                                     [0, c], [0, 0], [c, c]], rtol=1e-7)


def test_givens_reach_variables_used_inside_the_step():
    data = symconv.shared(np.arange(12.0).reshape(6, 2), name="data")
    x, i = T.dmatrix("x"), T.lscalar("i")
    out, _ = symconv.scan(lambda r, acc: acc + r * x.sum(), sequences=x,
                          outputs_info=T.zeros_like(x[0]))
    f = symconv.function([i], out[-1], givens={x: data[i * 3:(i + 1) * 3]})
    for k in (0, 1):
        rows = data.get_value()[3 * k:3 * k + 3]
        np.testing.assert_allclose(f(k), rows.sum(0) * rows.sum())
