"""SGD-style updates written into the shared variable's own storage: same results, and a
failing call still leaves every shared variable untouched."""
import numpy as np
import pytest

import symconv
import symconv.tensor as T


def _mlp_step(rng, mode="FAST_RUN"):
    x, y = T.matrix("x"), T.ivector("y")
    W = symconv.shared(rng.normal(0, 0.1, (6, 5)), "W")
    b = symconv.shared(np.zeros(5), "b")
    V = symconv.shared(rng.normal(0, 0.1, (5, 3)), "V")
    h = T.tanh(T.dot(x, W) + b)
    cost = -T.mean(T.log(T.nnet.softmax(T.dot(h, V)))[T.arange(y.shape[0]), y]) + \
        1e-3 * (W ** 2).sum() + 1e-3 * abs(V).sum()
    params = [W, b, V]
    grads = T.grad(cost, params)
    f = symconv.function([x, y], cost, mode=mode,
                         updates=[(p, p - 0.3 * g) for p, g in zip(params, grads)])
    return f, params


def test_updates_are_written_in_place_and_match_fast_compile():
    data = np.random.default_rng(0)
    xv, yv = data.normal(size=(8, 6)), data.integers(0, 3, 8).astype("int32")
    fast, fast_params = _mlp_step(np.random.default_rng(1))
    slow, slow_params = _mlp_step(np.random.default_rng(1), mode="FAST_COMPILE")
    assert fast.program.inplace, "no update was planned in place"
    storage = [p.get_value(borrow=True) for p in fast_params]
    for _ in range(4):
        np.testing.assert_allclose(fast(xv, yv), slow(xv, yv), rtol=1e-12)
    for p, q in zip(fast_params, slow_params):
        np.testing.assert_allclose(p.get_value(), q.get_value(), rtol=1e-12)
    planned = {fast.program.nodes[n].inputs[pos].name for n, pos in fast.program.inplace.items()}
    for p, buf in zip(fast_params, storage):
        if p.name in planned:
            assert p.get_value(borrow=True) is buf


def test_failing_call_leaves_in_place_targets_untouched():
    W = symconv.shared(np.ones((2, 3)), "W")
    b = symconv.shared(np.ones(3), "b")
    x = T.matrix("x")
    f = symconv.function([x], updates=[(b, b - 1), (W, W - x)])
    assert len(f.program.inplace) == 2
    with pytest.raises(ValueError, match="nothing was updated"):
        f(np.ones((1, 3)))            # broadcasts in NumPy, but W - x must not broadcast x
    np.testing.assert_array_equal(W.get_value(), np.ones((2, 3)))
    np.testing.assert_array_equal(b.get_value(), np.ones(3))
    f(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(W.get_value(), np.full((2, 3), 0.5))
    np.testing.assert_array_equal(b.get_value(), np.zeros(3))


def test_no_in_place_when_the_storage_is_returned_or_shared_elsewhere():
    W = symconv.shared(np.ones(3), "W")
    T_ = symconv.shared(np.zeros(3), "T")
    f = symconv.function([], W, updates=[(W, W - 1)])
    assert not f.program.inplace
    np.testing.assert_array_equal(f(), np.ones(3))        # the old value, not the updated one
    g = symconv.function([], updates=[(T_, W), (W, W * 2)])
    assert not g.program.inplace
    g()
    np.testing.assert_array_equal(T_.get_value(), np.zeros(3) + 0)
    np.testing.assert_array_equal(W.get_value(), np.zeros(3))
    a, c = symconv.shared(np.ones(2), "a"), symconv.shared(np.full(2, 3.0), "c")
    h = symconv.function([], updates=[(a, a + c), (c, c - a)])   # each reads the other
    h()
    np.testing.assert_array_equal(a.get_value(), [4.0, 4.0])
    np.testing.assert_array_equal(c.get_value(), [2.0, 2.0])
