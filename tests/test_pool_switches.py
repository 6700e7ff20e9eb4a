"""Max pooling by switches: the recording forward and the scatter backward (NumPy and generic
kernels) against the loop references with ties, NaN and -inf; the rewrite that puts them in
place of pool_2d + max_pool_2d_grad (and where it must not); finite differences in float64."""
from __future__ import annotations

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.backends import numpy_pool
from symconv.ops.pool import PoolError, max_pool_2d_grad, pool_2d
from symconv.ops.pool_switches import (max_pool_2d_grad_switches, max_pool_2d_switches,
                                       max_pool_2d_switches_out)
from symconv.tensor.signal import pool
from tests.reference import pool2d_grad_ref, pool2d_ref
from tests.util import check_grad


def _configs(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        ws = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        ignore_border = bool(rng.integers(2))
        pad = (0, 0)
        if ignore_border and rng.integers(2):
            pad = (int(rng.integers(0, ws[0])), int(rng.integers(0, ws[1])))
        # windows that tile (a crop of) the input half of the time: the NumPy fast paths
        stride = ws if rng.integers(2) else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(0, 4))))
        if len(configs) % 25 == 0:
            lead = (0,) + lead        # an empty batch
        hw = tuple(int(w * rng.integers(1, 4) + rng.integers(0, 2)) for w in ws)
        if ignore_border and any(n + 2 * p < w for n, p, w in zip(hw, pad, ws)):
            continue
        configs.append(dict(shape=lead + hw, params=dict(
            ws=ws, stride=stride, pad=pad, ignore_border=ignore_border, mode="max"),
            dtype=(np.float32, np.float64)[len(configs) % 2], seed=len(configs)))
    return configs


def _with_ties(shape: tuple, rng: np.random.Generator, dtype) -> np.ndarray:
    """Values from {0, 1, 2}: most windows have tied maxima."""
    return rng.integers(0, 3, size=shape).astype(dtype)


@pytest.mark.parametrize("c", _configs(60, seed=17), ids=lambda c: f"{c['shape']}-{c['params']}")
def test_kernels_against_reference_with_ties(c, monkeypatch):
    rng = np.random.default_rng(c["seed"])
    x = _with_ties(c["shape"], rng, c["dtype"])
    params = c["params"]
    want_y = pool2d_ref(x, **params) if x.size else numpy_pool.pool2d(x, **params)
    gy = rng.normal(size=want_y.shape).astype(c["dtype"])
    want_gx = pool2d_grad_ref(x, want_y, gy, **params) if x.size else np.zeros_like(x)
    # then the threaded split and blocks of one leading row, whatever the size
    for thread_min, block in ((numpy_pool._THREAD_MIN_SIZE, numpy_pool.SWITCHES_BLOCK), (0, 1)):
        monkeypatch.setattr(numpy_pool, "_THREAD_MIN_SIZE", thread_min)
        monkeypatch.setattr(numpy_pool, "SWITCHES_BLOCK", block)
        fast = numpy_pool.pool2d_switches(x, **params)
        generic = max_pool_2d_switches.kernel(np, x, **params)
        np.testing.assert_array_equal(np.asarray(fast), np.asarray(generic))
        for s, grad in ((fast, numpy_pool.pool2d_grad_switches),
                        (generic, lambda s, g: max_pool_2d_grad_switches.kernel(np, s, g))):
            assert s.y.dtype == x.dtype
            np.testing.assert_array_equal(s.y, want_y)
            gx = grad(s, gy)
            assert gx.shape == x.shape and gx.dtype == x.dtype
            np.testing.assert_allclose(gx, want_gx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("special", [np.nan, -np.inf])
@pytest.mark.parametrize("params", [dict(ws=(2, 2)), dict(ws=(3, 2), stride=(1, 1)),
                                    dict(ws=(2, 3), pad=(1, 2)),
                                    dict(ws=(2, 2), ignore_border=False)])
def test_nan_and_minus_inf_like_the_compare_kernel(special, params):
    # NaN windows have no maximum (no gradient); all -inf windows tie, padding included
    params = dict(dict(stride=None, pad=(0, 0), ignore_border=True, mode="max"), **params)
    rng = np.random.default_rng(3)
    x = _with_ties((2, 3, 7, 5), rng, np.float64)
    x[0, 0, :3, :3] = special
    x[1, 2, 4] = special
    y = numpy_pool.pool2d(x, **params)
    gy = rng.normal(size=y.shape)
    s = numpy_pool.pool2d_switches(x, **params)
    np.testing.assert_array_equal(s.y, y)
    np.testing.assert_allclose(numpy_pool.pool2d_grad_switches(s, gy),
                               numpy_pool.pool2d_grad(x, y, gy, **params), rtol=1e-12)


def test_every_tied_maximum_gets_the_gradient():
    # Theano's rule, not PyTorch's single argmax: both 5s of the first window get its gradient
    x = np.array([[5.0, 5.0, 1.0, 2.0],
                  [0.0, 1.0, 3.0, 0.0]])
    s = numpy_pool.pool2d_switches(x, (2, 2))
    gx = numpy_pool.pool2d_grad_switches(s, np.array([[10.0, 20.0]]))
    np.testing.assert_array_equal(gx, pool2d_grad_ref(x, s.y, np.array([[10.0, 20.0]]), (2, 2)))
    assert gx[0, 0] == gx[0, 1] == 10.0 and gx[1, 2] == 20.0 and gx.sum() == 40.0


def test_wrong_output_gradient_shape_is_named():
    s = numpy_pool.pool2d_switches(np.zeros((2, 4, 4)), (2, 2))
    with pytest.raises(PoolError, match=r"gy \(2, 2, 3\), expected the pooled shape \(2, 2, 2\)"):
        numpy_pool.pool2d_grad_switches(s, np.zeros((2, 2, 3)))


def _ops(fn) -> list[str]:
    return [node.op.name for node in fn.program.nodes]


def test_the_rewrite_replaces_pool_and_its_gradient(rng):
    x = T.tensor4("x")
    y = pool.pool_2d(x, (2, 2), ignore_border=True)
    cost = (T.tanh(y) * T.arange(y.shape[-1])).sum()
    fn = symconv.function([x], [y, T.grad(cost, x)])
    ops = _ops(fn)
    assert ops.count("max_pool_2d_switches") == 1, ops
    assert {"max_pool_2d_switches_out", "max_pool_2d_grad_switches"} <= set(ops)
    assert "pool_2d" not in ops and "max_pool_2d_grad" not in ops
    xv = _with_ties((2, 3, 6, 8), rng, np.float64)
    got_y, got_gx = fn(xv)
    want_y = pool2d_ref(xv, (2, 2))
    np.testing.assert_array_equal(got_y, want_y)
    gy = (1 - np.tanh(want_y) ** 2) * np.arange(4)
    np.testing.assert_allclose(got_gx, pool2d_grad_ref(xv, want_y, gy, (2, 2)), rtol=1e-12)


def test_the_rewrite_leaves_other_pools_alone():
    x, y_given, gy = T.tensor4("x"), T.tensor4("y"), T.tensor4("gy")
    for mode in ("sum", "average_exc_pad"):
        y = pool.pool_2d(x, (2, 2), ignore_border=True, mode=mode)
        assert "max_pool_2d_switches" not in _ops(symconv.function([x], T.grad(y.sum(), x)))
    no_grad = symconv.function([x], pool.pool_2d(x, (2, 2), ignore_border=True))
    assert _ops(no_grad) == ["pool_2d"]
    given = symconv.function([x, y_given, gy], max_pool_2d_grad(x, y_given, gy, ws=(2, 2),
                                                                ignore_border=True))
    assert _ops(given) == ["max_pool_2d_grad"]


def test_the_rewrite_fires_in_the_lenet_step():
    # the tutorial's layer: tanh(pool(conv(x, W)) + b), twice, then a softmax regression
    rng = np.random.default_rng(5)
    x, labels = T.tensor4("x", dtype="float32"), T.ivector("labels")
    layer, params = x, []
    for c_in, c_out in ((1, 4), (4, 6)):
        w = symconv.shared(rng.normal(0, 0.3, (c_out, c_in, 3, 3)).astype("float32"))
        b = symconv.shared(np.zeros(c_out, "float32"))
        conv = T.nnet.conv2d(layer, w)
        layer = T.tanh(pool.pool_2d(conv, ws=(2, 2), ignore_border=True)
                       + b.dimshuffle("x", 0, "x", "x"))
        params += [w, b]
    v = symconv.shared(np.zeros((6 * 2 * 2, 3), "float32"))
    p_y = T.nnet.softmax(T.dot(layer.flatten(2), v))
    cost = -T.mean(T.log(p_y)[T.arange(labels.shape[0]), labels])
    params.append(v)
    grads = T.grad(cost, params)
    train = symconv.function([x, labels], cost,
                             updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)])
    ops = _ops(train)
    assert ops.count("max_pool_2d_switches") == 2 and ops.count("max_pool_2d_grad_switches") == 2
    assert "max_pool_2d_grad" not in ops and "pool_2d" not in ops
    xv = rng.random((5, 1, 14, 14)).astype("float32")
    first = float(train(xv, np.array([0, 1, 2, 0, 1], "int32")))
    assert np.isfinite(first) and float(train(xv, np.array([0, 1, 2, 0, 1], "int32"))) < first


@pytest.mark.parametrize("params", [dict(ws=(2, 2)), dict(ws=(3, 2), stride=(1, 2)),
                                    dict(ws=(2, 2), pad=(1, 1)),
                                    dict(ws=(3, 3), stride=(2, 2), ignore_border=False)])
def test_finite_differences_float64(params):
    rng = np.random.default_rng(11)
    shape = (2, 2, 6, 7)
    xv = rng.permutation(int(np.prod(shape))).reshape(shape) / 9.0   # no ties: differentiable
    params = dict(dict(ignore_border=True), **params)
    check_grad(lambda x: pool.pool_2d(x, **params) ** 2, [xv])
    x = T.tensor4("x")
    fn = symconv.function([x], T.grad((pool.pool_2d(x, **params) ** 2).sum(), x))
    assert "max_pool_2d_grad_switches" in _ops(fn)


def test_switches_out_and_grad_need_a_switches_node():
    x = T.tensor4("x")
    with pytest.raises(TypeError, match="not the result of max_pool_2d_switches"):
        max_pool_2d_switches_out(pool_2d(x, ws=(2, 2), ignore_border=True))
    with pytest.raises(PoolError, match="mode 'max'"):
        max_pool_2d_switches(x, ws=(2, 2), ignore_border=True, mode="sum")


@pytest.mark.parametrize("mode", ["FAST_RUN", "DebugMode", "NanGuardMode"])
def test_float32_empty_batch_and_checking_modes(mode):
    # the bundle passes DebugMode's type checks and NanGuardMode; a batch of 0 images works
    x = T.tensor4("x", dtype="float32")
    y = pool.pool_2d(x, (2, 2), ignore_border=False)
    fn = symconv.function([x], [y, T.grad((y * y).sum(), x)], mode=mode)
    assert "max_pool_2d_grad_switches" in _ops(fn)
    rng = np.random.default_rng(2)
    for shape in ((0, 2, 5, 4), (2, 2, 5, 4)):
        xv = _with_ties(shape, rng, np.float32)
        got_y, got_gx = fn(xv)
        want_y = numpy_pool.pool2d(xv, (2, 2), ignore_border=False)
        assert got_y.dtype == got_gx.dtype == np.float32 and got_gx.shape == shape
        np.testing.assert_array_equal(got_y, want_y)
        np.testing.assert_allclose(got_gx, pool2d_grad_ref(xv, want_y, 2 * want_y, (2, 2),
                                                           ignore_border=False)
                                   if xv.size else np.zeros(shape), rtol=1e-6)
