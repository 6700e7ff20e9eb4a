"""Gradients through scan (backpropagation through time) against finite differences and
Theano's reference values: taps, several outputs, truncate_gradient, until, nested scans,
and gradients of gradients (the backward loop is a scan too)."""
import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.scan_module import until
from tests.test_scan import REF, _strict_rewrites  # noqa: F401  (the fixture is autouse)
from tests.util import check_grad


def _rnn(x, h0, w, truncate=-1):
    hs, _ = symconv.scan(lambda x_t, h, w: T.tanh(T.dot(h, w) + x_t), sequences=x,
                         outputs_info=h0, non_sequences=w, truncate_gradient=truncate)
    return hs


def test_rnn_gradient_wrt_sequence_initial_state_and_weights(rng):
    check_grad(_rnn, [rng.normal(size=(5, 3)), rng.normal(size=3),
                      rng.normal(size=(3, 3)) * 0.5])


@pytest.mark.parametrize("truncate", [2, -1])
def test_truncated_bptt_matches_theano(truncate):
    case = REF["truncate_gradient"]
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("w")
    hs = _rnn(x, h0, w, truncate)
    grads = T.grad((hs ** 2).sum(), [x, h0, w])
    vals = symconv.function([x, h0, w], [hs] + grads)(*[np.array(case[k])
                                                        for k in ("x", "h0", "W")])
    want = case[f"trunc{truncate}"]
    for name, got in zip(["hs", "gx", "gh0", "gW"], vals):
        np.testing.assert_allclose(got, want[name], rtol=1e-10, atol=1e-12)
    if truncate == 2:   # only the last two steps are visited; the initial state gets nothing
        assert not np.any(vals[1][:3]) and not np.any(vals[2])


def test_truncate_longer_than_the_loop_is_full_bptt(rng):
    pt = [rng.normal(size=(4, 2)), rng.normal(size=2), rng.normal(size=(2, 2))]
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("w")
    full = T.grad((_rnn(x, h0, w) ** 2).sum(), [x, h0, w])
    trunc = T.grad((_rnn(x, h0, w, truncate=10) ** 2).sum(), [x, h0, w])
    got = symconv.function([x, h0, w], full + trunc)(*pt)
    for a, b in zip(got[:3], got[3:]):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("backwards", [False, True])
def test_gradient_with_sequence_and_output_taps(backwards):
    case = REF["taps"]

    def f(s, i0):
        return symconv.scan(
            lambda a, b, c, o3, o1: 0.5 * o1 - 0.25 * o3 * a + T.sin(b) - c * o1,
            sequences=dict(input=s, taps=[-2, 0, 1]),
            outputs_info=dict(initial=i0, taps=[-3, -1]), go_backwards=backwards)[0]

    check_grad(f, [np.array(case["s"]) * 0.5, np.array(case["init"])])
    s, i0 = T.dmatrix("s"), T.dmatrix("i0")    # the linear case Theano recorded
    res, _ = symconv.scan(
        lambda a, b, c, o3, o1: 0.5 * o1 - 0.25 * o3 + a * 1.0 + 2.0 * b - c * 0.5,
        sequences=dict(input=s, taps=[-2, 0, 1]),
        outputs_info=dict(initial=i0, taps=[-3, -1]), go_backwards=backwards)
    cost = (res * T.arange(1, res.shape[0] + 1).dimshuffle(0, "x")).sum()
    got = symconv.function([s, i0], T.grad(cost, [s, i0]))(np.array(case["s"]),
                                                            np.array(case["init"]))
    want = case[f"back{int(backwards)}"]
    np.testing.assert_allclose(got[0], want["gs"], atol=1e-12)
    np.testing.assert_allclose(got[1], want["ginit"], atol=1e-12)


def test_gradient_of_several_outputs_and_a_mapped_one(rng):
    def f(x, a0, w):
        def step(x_t, a, w):
            a_new = T.tanh(a * w + x_t)
            return a_new, (a_new * x_t).sum()
        (a, y), _ = symconv.scan(step, sequences=x, outputs_info=[a0, None],
                                 non_sequences=w)
        return a.sum() * 0.3 + y.sum()

    check_grad(f, [rng.normal(size=(4, 2)), rng.normal(size=2), rng.normal(size=2)])


def test_gradient_through_the_last_value_only(rng):
    def f(x, w):
        total, _ = symconv.reduce(lambda x_t, acc, w: acc * T.tanh(w) + x_t, sequences=x,
                                  outputs_info=T.zeros_like(x[0]), non_sequences=w)
        return total

    check_grad(f, [rng.normal(size=(5, 3)), rng.normal(size=3)])


def test_gradient_of_a_while_loop(rng):
    def f(x, w):
        out, _ = symconv.scan(lambda x_t, h, w: (T.tanh(h * w + x_t), until(x_t.sum() > 1e9)),
                              sequences=x, outputs_info=T.zeros_like(x[0]), non_sequences=w)
        return out

    check_grad(f, [rng.normal(size=(4, 2)), rng.normal(size=2)])
    x, w = T.dvector("x"), T.dscalar("w")     # the loop stops early: later x get zero gradient
    out, _ = symconv.scan(lambda x_t, h: (h * w + x_t, until(x_t > 2)), sequences=x,
                          outputs_info=T.constant(0.0, dtype="float64"))
    gx = symconv.function([x, w], T.grad(out.sum(), x))(np.array([1.0, 3.0, 5.0]), 2.0)
    np.testing.assert_allclose(gx, [3.0, 1.0, 0.0])


def test_gradient_wrt_a_shared_variable_used_without_being_passed(rng):
    w = symconv.shared(rng.normal(size=(3, 3)) * 0.5, name="w")
    x = T.dmatrix("x")
    hs, _ = symconv.scan(lambda x_t, h: T.tanh(T.dot(h, w) + x_t), sequences=x,
                         outputs_info=T.zeros_like(x[0]))
    cost = (hs ** 2).sum()
    xv = rng.normal(size=(4, 3))
    gw = symconv.function([x], T.grad(cost, w))(xv)
    num = np.zeros_like(gw)
    wv = w.get_value()
    f = symconv.function([x], cost)
    for idx in np.ndindex(*wv.shape):
        for sign in (1, -1):
            bumped = wv.copy()
            bumped[idx] += sign * 1e-6
            w.set_value(bumped)
            num[idx] += sign * f(xv) / 2e-6
    np.testing.assert_allclose(gw, num, rtol=1e-5, atol=1e-8)


def test_nested_scans(rng):
    def f(a, b):
        def row_step(a_row, acc):
            inner, _ = symconv.scan(lambda b_t, s, a_row: s + T.tanh(a_row * b_t),
                                    sequences=b, outputs_info=acc, non_sequences=a_row)
            return inner[-1]
        out, _ = symconv.scan(row_step, sequences=a, outputs_info=T.zeros_like(a[0]))
        return out

    check_grad(f, [rng.normal(size=(3, 2)), rng.normal(size=(4, 2))])


def test_hessian_vector_product_is_a_gradient_of_the_backward_scan(rng):
    x, w, v = T.dvector("x"), T.dmatrix("w"), T.dvector("v")
    hs, _ = symconv.scan(lambda h, w: T.tanh(T.dot(h, w)), outputs_info=x, non_sequences=w,
                         n_steps=3)
    cost = (hs[-1] ** 2).sum() + (hs ** 3).sum()
    gx = T.grad(cost, x)
    hv = T.grad((gx * v).sum(), x)
    xv, wv, vv = rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
    got = symconv.function([x, w, v], hv)(xv, wv, vv)
    grad_fn = symconv.function([x, w], gx)
    eps = 1e-6
    num = (grad_fn(xv + eps * vv, wv) - grad_fn(xv - eps * vv, wv)) / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-9)


def test_second_order_gradient_by_finite_differences(rng):
    def g(x, w):
        hs = _rnn(x, T.zeros_like(x[0]), w)
        return T.grad((hs ** 2).sum(), w)

    check_grad(g, [rng.normal(size=(3, 2)), rng.normal(size=(2, 2)) * 0.5])


def test_integer_sequences_get_no_gradient(rng):
    x = T.dvector("x")
    idx = T.arange(x.shape[0])
    out, _ = symconv.scan(lambda i, acc: acc + x[i] ** 2, sequences=idx,
                          outputs_info=T.constant(0.0, dtype="float64"))
    xv = rng.normal(size=4)
    np.testing.assert_allclose(symconv.function([x], T.grad(out[-1], x))(xv), 2 * xv)


def _lstm_layer(x, mask, w, u, b, dim):
    """The DeepLearningTutorials lstm.py layer, in our own words: masked steps, two states."""
    def piece(a, n):
        return a[:, n * dim:(n + 1) * dim]

    def step(m, x_t, h, c):   # (the tutorial projects x for all steps at once: 3-d dot)
        pre = T.dot(h, u) + T.dot(x_t, w) + b
        i, f, o = (T.nnet.sigmoid(piece(pre, n)) for n in range(3))
        c_new = f * c + i * T.tanh(piece(pre, 3))
        c_new = m[:, None] * c_new + (1.0 - m)[:, None] * c
        h_new = o * T.tanh(c_new)
        return m[:, None] * h_new + (1.0 - m)[:, None] * h, c_new

    zeros = T.alloc(np.float64(0), x.shape[1], dim)
    (hs, _), _ = symconv.scan(step, sequences=[mask, x], outputs_info=[zeros, zeros],
                              n_steps=x.shape[0], name="lstm_layers")
    return hs


def test_tutorial_lstm_layer_forward_and_gradient(rng):
    steps, batch, n_in, dim = 4, 3, 2, 2
    xv = rng.normal(size=(steps, batch, n_in))
    maskv = (np.arange(steps)[:, None] < np.array([4, 2, 3])[None, :]).astype("float64")
    wv, uv = rng.normal(size=(n_in, 4 * dim)), rng.normal(size=(dim, 4 * dim))
    bv = rng.normal(size=4 * dim)
    x, mask, w, u, b = T.tensor3("x"), T.dmatrix("mask"), T.dmatrix("w"), T.dmatrix("u"), \
        T.dvector("b")
    got = symconv.function([x, mask, w, u, b], _lstm_layer(x, mask, w, u, b, dim))(
        xv, maskv, wv, uv, bv)
    h, c = np.zeros((batch, dim)), np.zeros((batch, dim))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    for t in range(steps):
        pre = h @ uv + xv[t] @ wv + bv
        gates = [pre[:, n * dim:(n + 1) * dim] for n in range(4)]
        c_new = sig(gates[1]) * c + sig(gates[0]) * np.tanh(gates[3])
        m = maskv[t][:, None]
        c_new = m * c_new + (1 - m) * c
        h = m * (sig(gates[2]) * np.tanh(c_new)) + (1 - m) * h
        c = c_new
        np.testing.assert_allclose(got[t], h)
    check_grad(lambda w_, u_, b_: _lstm_layer(T.constant(xv), T.constant(maskv), w_, u_, b_,
                                              dim), [wv, uv, bv])


def test_gradient_of_a_shared_variable_updated_inside_the_loop():
    acc = symconv.shared(np.float64(0.5), name="acc")
    x, w = T.dvector("x"), T.dscalar("w")
    _, upd = symconv.scan(lambda x_t: {acc: acc * w + x_t}, sequences=x)
    final = upd[acc]
    f = symconv.function([x, w], [final] + T.grad(final, [w, x]))
    value, gw, gx = f(np.array([1.0, 2.0, 3.0]), 0.7)

    def ref(wv):
        return ((0.5 * wv + 1) * wv + 2) * wv + 3

    np.testing.assert_allclose(value, ref(0.7))
    np.testing.assert_allclose(gw, (ref(0.7 + 1e-6) - ref(0.7 - 1e-6)) / 2e-6, rtol=1e-7)
    np.testing.assert_allclose(gx, [0.49, 0.7, 1.0])
    assert acc.get_value() == 0.5    # not passed as an update: unchanged


def test_tutorial_elman_rnn_for_slot_filling_trains(rng):
    """rnnslu.py in our own words: word windows -> embeddings -> Elman RNN -> per-word softmax,
    one SGD step on a sentence lowers its negative log-likelihood."""
    n_words, n_classes, emb_dim, hidden, window = 20, 4, 5, 6, 3
    params = {"emb": rng.normal(size=(n_words + 1, emb_dim)) * 0.2,
              "wx": rng.normal(size=(emb_dim * window, hidden)) * 0.2,
              "wh": rng.normal(size=(hidden, hidden)) * 0.2,
              "w": rng.normal(size=(hidden, n_classes)) * 0.2,
              "bh": np.zeros(hidden), "b": np.zeros(n_classes), "h0": np.zeros(hidden)}
    shared = {k: symconv.shared(v, name=k) for k, v in params.items()}
    idxs, labels = T.imatrix("idxs"), T.ivector("labels")
    x = shared["emb"][idxs].reshape((idxs.shape[0], emb_dim * window))

    def recurrence(x_t, h_tm1):
        h_t = T.nnet.sigmoid(T.dot(x_t, shared["wx"]) + T.dot(h_tm1, shared["wh"]) +
                             shared["bh"])
        s_t = T.nnet.softmax(T.dot(h_t, shared["w"]) + shared["b"])
        return [h_t, s_t]

    (_, s), _ = symconv.scan(recurrence, sequences=x, outputs_info=[shared["h0"], None],
                             n_steps=x.shape[0])
    # (Theano's softmax of a vector is a 1-row matrix, whence rnnslu's s[:, 0, :]; symconv's
    # keeps the vector)
    p_y = s[:, 0, :] if s.ndim == 3 else s
    nll = -T.mean(T.log(p_y)[T.arange(labels.shape[0]), labels])
    grads = T.grad(nll, list(shared.values()))
    train = symconv.function([idxs, labels], nll, updates=[
        (p, p - 0.5 * g) for p, g in zip(shared.values(), grads)])
    sentence = rng.integers(0, n_words, size=(7, window)).astype("int32")
    tags = rng.integers(0, n_classes, size=7).astype("int32")
    costs = [float(train(sentence, tags)) for _ in range(5)]
    assert costs[-1] < costs[0] - 0.05
    assert np.isclose(costs[0], np.log(n_classes), atol=0.2)   # small weights: near uniform


@pytest.mark.parametrize("batched", [False, True])
def test_products_of_sequence_elements_move_out_of_the_loop(rng, batched):
    def rnn(x, w, u):
        hs, _ = symconv.scan(lambda x_t, h: T.tanh(T.dot(x_t, w) + T.dot(h, u)), sequences=x,
                             outputs_info=T.zeros_like(T.dot(x[0], w)))
        return hs

    x, w, u = (T.tensor3("x") if batched else T.dmatrix("x")), T.dmatrix("w"), T.dmatrix("u")
    hs = rnn(x, w, u)
    spec = hs.owner.inputs[0].owner.kw["spec"]
    inner_dots = [n for n in symconv.graph.toposort(spec.inner_outputs) if n.op.name == "dot"]
    assert len(inner_dots) == 1          # dot(h, u) only: x @ w is one product outside
    shape = (4, 3, 2) if batched else (4, 2)
    xv, wv, uv = rng.normal(size=shape), rng.normal(size=(2, 3)), rng.normal(size=(3, 3)) * 0.5
    got = symconv.function([x, w, u], hs)(xv, wv, uv)
    h = np.zeros(shape[1:-1] + (3,))
    for t in range(4):
        h = np.tanh(xv[t] @ wv + h @ uv)
        np.testing.assert_allclose(got[t], h)
    check_grad(rnn, [xv, wv, uv])


def test_dot_of_a_3d_tensor_by_a_matrix_contracts_its_last_axis(rng):
    # lstm.py projects every step at once: dot(emb (steps, samples, dim), W)
    a, w, v = T.tensor3("a"), T.dmatrix("w"), T.dvector("v")
    av, wv, vv = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=4)
    got = symconv.function([a, w, v], [T.dot(a, w), T.dot(a, v)])(av, wv, vv)
    np.testing.assert_allclose(got[0], av @ wv)
    np.testing.assert_allclose(got[1], av @ vv)
    check_grad(lambda x, y: T.dot(x, y), [av, wv])
