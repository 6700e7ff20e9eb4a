"""pool_2d and its gradient ops as graph ops: forward and gradients vs the loop reference on random
configurations (lowered and generic kernels), finite differences, shape rules, errors, aliases."""
import warnings

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.ops import pool as pool_ops
from symconv.tensor.signal import downsample, pool
from tests.reference import pool2d_grad_ref, pool2d_ref
from tests.util import check_grad

MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def _tiefree(rng, shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 1.0


def _random_config(rng):
    ws = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    ignore_border = bool(rng.integers(2))
    pad = (0, 0)
    if ignore_border and rng.integers(2):
        pad = (int(rng.integers(0, ws[0])), int(rng.integers(0, ws[1])))
    stride = None if rng.integers(3) == 0 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    lead = [(), (3,), (2, 2), (1, 2, 1)][int(rng.integers(4))]
    h, w = int(rng.integers(ws[0], ws[0] + 6)), int(rng.integers(ws[1], ws[1] + 6))
    return dict(shape=lead + (h, w), ws=ws, stride=stride, pad=pad,
                ignore_border=ignore_border, mode=MODES[int(rng.integers(len(MODES)))])


def test_random_configs_forward_and_grad(rng):
    # 150 configurations: the graph's forward and gradient (NumPy lowering) and the generic
    # kernels, against the loop reference; tie-free inputs so the max is unique.
    seen = set()
    for _ in range(150):
        cfg = _random_config(rng)
        shape = cfg.pop("shape")
        seen.add((cfg["mode"], cfg["ignore_border"], cfg["pad"] != (0, 0), len(shape)))
        xv = _tiefree(rng, shape)
        x = T.tensor(dtype="float64", shape=(None,) * len(shape), name="x")
        y = pool.pool_2d(x, **cfg)
        stride = cfg["stride"] or cfg["ws"]
        ref_args = (cfg["ws"], stride, cfg["pad"], cfg["ignore_border"], cfg["mode"])
        want = pool2d_ref(xv, *ref_args)
        if want.size == 0:
            continue
        gyv = rng.normal(size=want.shape)
        gy = T.tensor(dtype="float64", shape=(None,) * len(shape), name="gy")
        gx = T.grad(None, x, known_grads={y: gy})
        got_y, got_gx = symconv.function([x, gy], [y, gx])(xv, gyv)
        want_gx = pool2d_grad_ref(xv, want, gyv, *ref_args)
        np.testing.assert_allclose(got_y, want, rtol=1e-12, atol=1e-12, err_msg=str(cfg))
        np.testing.assert_allclose(got_gx, want_gx, rtol=1e-12, atol=1e-12, err_msg=str(cfg))
        params = pool_ops.canonical_params(**cfg)
        np.testing.assert_allclose(pool_ops.pool_2d.kernel(np, xv, **params), want,
                                   rtol=1e-12, atol=1e-12, err_msg=str(cfg))
        if cfg["mode"] == "max":
            generic = pool_ops.max_pool_2d_grad.kernel(np, xv, want, gyv, **params)
        else:
            generic = pool_ops.average_pool_2d_grad.kernel(np, xv, gyv, **params)
        np.testing.assert_allclose(generic, want_gx, rtol=1e-12, atol=1e-12, err_msg=str(cfg))
    assert {(m, ib) for m, ib, _, _ in seen} == {(m, ib) for m in MODES for ib in (True, False)}
    assert any(padded for _, _, padded, _ in seen)


def test_max_gradient_goes_to_every_tie():
    x = T.matrix("x")
    xv = np.array([[1.0, 1.0], [0.0, 1.0]])
    gx = T.grad(pool.pool_2d(x, (2, 2), ignore_border=True).sum(), x)
    np.testing.assert_array_equal(symconv.function([x], gx)(xv), [[1, 1], [0, 1]])


GRAD_CASES = [
    dict(ws=(2, 2), ignore_border=True),
    dict(ws=(3, 2), stride=(1, 2), ignore_border=False),
    dict(ws=(3, 3), stride=(2, 2), pad=(1, 2), ignore_border=True),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("params", GRAD_CASES)
def test_finite_differences(mode, params, rng):
    xv = _tiefree(rng, (2, 5, 7))
    y_shape = symconv.function([], pool.pool_2d(xv, mode=mode, **params))().shape
    gyv = rng.normal(size=y_shape)
    check_grad(lambda x: pool.pool_2d(x, mode=mode, **params), [xv])
    # the gradient op itself, wrt the output gradient (and x, where it is locally constant)
    if mode == "max":
        check_grad(lambda x, gy: pool_ops.max_pool_2d_grad(
            x, pool.pool_2d(x, mode=mode, **params), gy, mode=mode, **params), [xv, gyv])
    else:
        check_grad(lambda gy: pool_ops.average_pool_2d_grad(xv, gy, mode=mode, **params), [gyv])


def test_max_pool_grad_grad(rng):
    # the adjoint op of max_pool_2d_grad, and its own gradient, by finite differences
    params = dict(ws=(2, 3), stride=(1, 2), pad=(0, 0), ignore_border=False, mode="max")
    xv = _tiefree(rng, (2, 4, 7))
    ggxv = rng.normal(size=xv.shape)
    check_grad(lambda ggx: pool_ops.max_pool_2d_grad_grad(
        xv, pool_ops.pool_2d(xv, **params), ggx, **params), [ggxv])

    def second_order(x):
        gx = T.grad((pool.pool_2d(x, **{k: v for k, v in params.items()}) ** 2).sum(), x)
        return (gx ** 2).sum()
    check_grad(second_order, [xv])


@pytest.mark.parametrize("ignore_border", [True, False])
@pytest.mark.parametrize("ws,stride,pad", [((2, 2), None, (0, 0)), ((3, 2), (1, 1), (0, 0)),
                                           ((2, 3), (3, 2), (0, 0)), ((3, 3), (2, 2), (1, 2))])
def test_output_shape_formula(ws, stride, pad, ignore_border, rng):
    x = T.tensor3("x", shape=(2, 9, 8))
    if pad != (0, 0) and not ignore_border:   # Theano refuses this combination
        with pytest.raises(NotImplementedError, match="ignore_border=True"):
            pool.pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad)
        return
    y = pool.pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad)
    st = stride or ws
    want = []
    for n, w, s, p in zip((9, 8), ws, st, pad):
        if ignore_border:
            want.append((n + 2 * p - w) // s + 1)
        elif s >= w:
            want.append((n - 1) // s + 1)
        else:
            want.append(max(0, (n - 1 - w + s) // s) + 1)
    assert y.type.shape == (2,) + tuple(want)
    assert symconv.function([x], y)(rng.normal(size=(2, 9, 8))).shape == (2,) + tuple(want)


def test_float32_stays_float32(rng):
    x = T.tensor4("x", dtype="float32")
    for mode in MODES:
        y = pool.pool_2d(x, (2, 2), ignore_border=True, mode=mode)
        gx = T.grad(y.sum(), x)
        out = symconv.function([x], [y, gx], mode="DebugMode")(
            rng.normal(size=(2, 3, 6, 5)).astype("float32"))
        assert [o.dtype for o in out] == [np.float32, np.float32]


def test_build_errors():
    x = T.tensor4("x")
    with pytest.raises(NotImplementedError, match="ignore_border=True"):
        pool.pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(NotImplementedError, match="smaller than the window"):
        pool.pool_2d(x, (2, 2), ignore_border=True, pad=(2, 0))
    with pytest.raises(NotImplementedError, match="dimension >= 2"):
        pool.pool_2d(T.vector("v"), (2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        pool.pool_2d(x, (2, 2), ignore_border=True, mode="median")
    with pytest.raises(ValueError, match="window size"):
        pool.pool_2d(x, ignore_border=True)
    with pytest.raises(ValueError, match="ws must be"):
        pool.pool_2d(x, (0, 2), ignore_border=True)
    with pytest.raises(ValueError, match="both 'ws' and 'ds'"):
        pool.pool_2d(x, (2, 2), ds=(2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="pooled shape"):
        pool_ops.max_pool_2d_grad(T.tensor4("x", shape=(1, 1, 4, 4)), x,
                                  T.tensor4("gy", shape=(1, 1, 3, 3)), ws=(2, 2),
                                  ignore_border=True)


def test_deprecated_aliases_and_defaults(rng):
    x = T.matrix("x")
    xv = _tiefree(rng, (5, 6))
    want = pool2d_ref(xv, (2, 3), (1, 2), (1, 1), True, "max")
    with pytest.warns(DeprecationWarning) as record:
        y = pool.pool_2d(x, ds=(2, 3), st=(1, 2), padding=(1, 1), ignore_border=True)
    assert {"'ds'", "'st'", "'padding'"} <= {w for r in record for w in
                                             ("'ds'", "'st'", "'padding'") if w in str(r.message)}
    np.testing.assert_allclose(symconv.function([x], y)(xv), want)
    with pytest.warns(UserWarning, match="ignore_border"):
        y = pool.pool_2d(x, (2, 4))
    assert symconv.function([x], y)(xv).shape == (3, 2)    # None means False: partial windows
    with pytest.warns(DeprecationWarning, match="pool_2d"):
        old = downsample.max_pool_2d(x, (2, 3), ignore_border=True, st=(1, 2), padding=(1, 1))
    np.testing.assert_allclose(symconv.function([x], old)(xv), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        avg = pool.pool_2d(x, (2, 2), ignore_border=True, mode="average")
    assert avg.owner.kw["mode"] == "average_inc_pad"


def test_max_pool_2d_same_size(rng):
    x = T.matrix("x")
    xv = _tiefree(rng, (4, 4))
    got = symconv.function([x], pool.max_pool_2d_same_size(x, (2, 2)))(xv)
    blocks = xv.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4).max(axis=-1)
    want = np.where(xv == np.kron(blocks, np.ones((2, 2))), xv, 0)
    np.testing.assert_array_equal(got, want)
