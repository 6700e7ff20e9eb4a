"""The NumPy pool2d kernels against the loop references, finite differences and dtype rules."""
from __future__ import annotations

import numpy as np
import pytest

from symconv.backends import numpy_pool
from symconv.backends.numpy_pool import pool2d, pool2d_grad
from symconv.ops.pool import MODES
from tests.reference import pool2d_grad_ref, pool2d_ref

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _random_configs(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        ws = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        ignore_border = bool(rng.integers(2))
        if ignore_border and rng.integers(2):
            pad = (int(rng.integers(0, ws[0])), int(rng.integers(0, ws[1])))
        else:
            pad = (0, 0)
        # Strides equal to the window (the tiled fast path) a third of the time.
        stride = ws if rng.integers(3) == 0 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(0, 4))))
        hw = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        if ignore_border and any(n + 2 * p < w for n, p, w in zip(hw, pad, ws)):
            continue
        configs.append(dict(
            shape=lead + hw, ws=ws, stride=stride, pad=pad, ignore_border=ignore_border,
            mode=MODES[len(configs) % len(MODES)], seed=len(configs),
            dtype=[np.float64, np.float32][int(rng.integers(2))],
            # Every other case forces the threaded split of the leading axis.
            thread_min=[numpy_pool._THREAD_MIN_SIZE, 0][len(configs) % 2],
        ))
    return configs


CONFIGS = _random_configs(200, seed=1106)


def _case_id(c: dict) -> str:
    return (f"{c['mode']}-x{c['shape']}-ws{c['ws']}-s{c['stride']}-p{c['pad']}-"
            f"ib{int(c['ignore_border'])}-{np.dtype(c['dtype']).name}").replace(" ", "")


def _tie_free(shape: tuple, rng: np.random.Generator, dtype) -> np.ndarray:
    """Distinct values, so the max of every window is unique and its gradient well defined."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / max(size, 1) - 0.5).astype(dtype)


@pytest.mark.parametrize("c", CONFIGS, ids=_case_id)
def test_against_reference(c, monkeypatch):
    monkeypatch.setattr(numpy_pool, "_THREAD_MIN_SIZE", c["thread_min"])
    rng = np.random.default_rng(c["seed"])
    x = _tie_free(c["shape"], rng, c["dtype"])
    params = dict(ws=c["ws"], stride=c["stride"], pad=c["pad"], ignore_border=c["ignore_border"],
                  mode=c["mode"])
    tol = TOLERANCE[c["dtype"]]

    y = pool2d(x, **params)
    y_ref = pool2d_ref(x, **params)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **tol)

    gy = rng.standard_normal(y.shape).astype(c["dtype"])
    gx = pool2d_grad(x, y, gy, **params)
    np.testing.assert_allclose(gx, pool2d_grad_ref(x, y_ref, gy, **params), **tol)
    assert y.dtype == gx.dtype == c["dtype"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ws, stride, pad, ignore_border", [
    ((2, 2), (2, 2), (0, 0), True),
    ((3, 2), (1, 2), (1, 1), True),
    ((3, 3), (2, 1), (0, 0), False),
])
def test_gradient_matches_finite_differences(mode, ws, stride, pad, ignore_border):
    rng = np.random.default_rng(5)
    x = _tie_free((2, 3, 7, 6), rng, np.float64)
    params = dict(ws=ws, stride=stride, pad=pad, ignore_border=ignore_border, mode=mode)
    y = pool2d(x, **params)
    gy = rng.standard_normal(y.shape)
    gx = pool2d_grad(x, y, gy, **params)
    # eps far below the gap between values, so no window's argmax moves.
    eps, dx = 1e-7, rng.standard_normal(x.shape)
    numeric = np.sum(gy * (pool2d(x + eps * dx, **params) - pool2d(x - eps * dx, **params)))
    np.testing.assert_allclose(np.sum(gx * dx), numeric / (2 * eps), rtol=1e-6)


@pytest.mark.parametrize("stride", [(2, 2), (1, 1)])
def test_max_gradient_goes_to_every_tied_element(stride):
    x = np.array([[1.0, 3.0, 3.0, 0.0],
                  [3.0, 2.0, 1.0, 3.0],
                  [0.0, 0.0, 5.0, 5.0],
                  [0.0, 0.0, 5.0, 5.0]])
    y = pool2d(x, (2, 2), stride)
    gy = np.arange(1.0, y.size + 1).reshape(y.shape)
    gx = pool2d_grad(x, y, gy, (2, 2), stride)
    np.testing.assert_array_equal(gx, pool2d_grad_ref(x, y, gy, (2, 2), stride))
    if stride == (2, 2):
        np.testing.assert_array_equal(gx, [[0, 1, 2, 0], [1, 0, 0, 2], [3, 3, 4, 4],
                                           [3, 3, 4, 4]])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(64, 20, 24, 24), (4, 50, 8, 8)])
def test_float32_stays_float32_at_lenet_shape(mode, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = pool2d(x, (2, 2), mode=mode)
    gx = pool2d_grad(x, y, np.ones_like(y), (2, 2), mode=mode)
    assert y.dtype == gx.dtype == np.float32
    assert y.shape == shape[:2] + (shape[2] // 2, shape[3] // 2) and gx.shape == shape
    reduce = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    blocks = x.reshape(shape[:2] + (shape[2] // 2, 2, shape[3] // 2, 2))
    np.testing.assert_allclose(y, reduce(blocks, axis=(3, 5)), rtol=1e-6, atol=1e-6)


def test_argument_errors():
    x = np.zeros((4, 4))
    with pytest.raises(ValueError, match="mode"):
        pool2d(x, (2, 2), mode="min")
    with pytest.raises(ValueError, match="smaller than the window"):
        pool2d(x, (2, 2), pad=(2, 0))
    with pytest.raises(ValueError, match="ignore_border"):
        pool2d(x, (2, 2), pad=(1, 1), ignore_border=False)
    with pytest.raises(ValueError, match="at least 2"):
        pool2d(np.zeros(4), (2, 2))
