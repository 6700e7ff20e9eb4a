"""The NumPy conv2d kernels against the loop references, finite differences and dtype rules."""
from __future__ import annotations

import numpy as np
import pytest

from symconv.backends import numpy_conv
from symconv.backends.numpy_conv import conv2d, conv2d_grad_inputs, conv2d_grad_weights
from tests.reference import conv2d_grad_inputs_ref, conv2d_grad_weights_ref, conv2d_ref

LAYOUTS = (None, "nchw", "nhwc")
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-4)}


def _border_pad(mode: str, k: int, dilation: int, rng: np.random.Generator) -> int:
    """Theano's border modes as the padding the op layer passes down."""
    dk = (k - 1) * dilation + 1
    return {"valid": 0, "full": dk - 1, "half": dk // 2, "explicit": int(rng.integers(1, 3))}[mode]


def _random_configs(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        cg, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        subsample = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        modes = rng.choice(["valid", "full", "half", "explicit"], size=2)
        pad = (_border_pad(modes[0], kh, dilation[0], rng),
               _border_pad(modes[1], kw, dilation[1], rng))
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if (h + 2 * pad[0] < (kh - 1) * dilation[0] + 1
                or w + 2 * pad[1] < (kw - 1) * dilation[1] + 1):
            continue
        configs.append(dict(
            x_shape=(int(rng.integers(1, 4)), cg * groups, h, w),
            w_shape=(og * groups, cg, kh, kw),
            pad=pad, subsample=subsample, dilation=dilation, flip=bool(rng.integers(2)),
            groups=groups, dtype=[np.float64, np.float32][int(rng.integers(2))], seed=len(configs),
            layout=LAYOUTS[len(configs) % 3],
            chunk_bytes=[numpy_conv.CHUNK_BYTES, 1][len(configs) % 2],
        ))
    return configs


CONFIGS = _random_configs(150, seed=20240611)


def _case_id(c: dict) -> str:
    return (f"x{c['x_shape']}-w{c['w_shape']}-p{c['pad']}-s{c['subsample']}-d{c['dilation']}-"
            f"{'conv' if c['flip'] else 'xcorr'}-g{c['groups']}-{np.dtype(c['dtype']).name}-"
            f"{c['layout']}").replace(" ", "")


@pytest.mark.parametrize("c", CONFIGS, ids=_case_id)
def test_against_reference(c, monkeypatch):
    # Tiny chunks on half the cases run the multi-chunk, threaded paths on small inputs.
    monkeypatch.setattr(numpy_conv, "CHUNK_BYTES", c["chunk_bytes"])
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal(c["x_shape"]).astype(c["dtype"])
    w = rng.standard_normal(c["w_shape"]).astype(c["dtype"])
    params = dict(pad=c["pad"], subsample=c["subsample"], dilation=c["dilation"], flip=c["flip"],
                  groups=c["groups"])
    tol = TOLERANCE[c["dtype"]]

    y = conv2d(x, w, **params, layout=c["layout"])
    np.testing.assert_allclose(y, conv2d_ref(x, w, **params), **tol)

    gy = rng.standard_normal(y.shape).astype(c["dtype"])
    gx = conv2d_grad_inputs(gy, w, x.shape[2:], **params, layout=c["layout"])
    np.testing.assert_allclose(gx, conv2d_grad_inputs_ref(gy, w, x.shape[2:], **params), **tol)
    gw = conv2d_grad_weights(x, gy, w.shape[2:], **params, layout=c["layout"])
    np.testing.assert_allclose(gw, conv2d_grad_weights_ref(x, gy, w.shape[2:], **params), **tol)
    for out in (y, gx, gw):
        assert out.dtype == c["dtype"]


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("params", [
    dict(pad=(0, 0), subsample=(1, 1), dilation=(1, 1), flip=True, groups=1),
    dict(pad=(2, 1), subsample=(2, 1), dilation=(1, 2), flip=False, groups=2),
    dict(pad=(1, 1), subsample=(1, 3), dilation=(2, 1), flip=True, groups=1),
])
def test_gradients_match_finite_differences(params, layout):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 4 // params["groups"], 3, 2))
    gy = rng.standard_normal(conv2d(x, w, **params).shape)

    def cost(x_: np.ndarray, w_: np.ndarray) -> float:
        return float(np.sum(gy * conv2d(x_, w_, **params, layout=layout)))

    # Directional derivative along a random direction, central differences.
    eps = 1e-6
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    numeric_x = (cost(x + eps * dx, w) - cost(x - eps * dx, w)) / (2 * eps)
    numeric_w = (cost(x, w + eps * dw) - cost(x, w - eps * dw)) / (2 * eps)
    gx = conv2d_grad_inputs(gy, w, x.shape[2:], **params, layout=layout)
    gw = conv2d_grad_weights(x, gy, w.shape[2:], **params, layout=layout)
    np.testing.assert_allclose(np.sum(gx * dx), numeric_x, rtol=1e-6)
    np.testing.assert_allclose(np.sum(gw * dw), numeric_w, rtol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_float32_stays_float32_at_lenet_shape(layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 20, 12, 12), dtype=np.float32)
    w = rng.standard_normal((50, 20, 5, 5), dtype=np.float32)
    y = conv2d(x, w, layout=layout)
    gx = conv2d_grad_inputs(y, w, (12, 12), layout=layout)
    gw = conv2d_grad_weights(x, y, (5, 5), layout=layout)
    assert (y.dtype, gx.dtype, gw.dtype) == (np.float32,) * 3
    assert (y.shape, gx.shape, gw.shape) == ((8, 50, 8, 8), x.shape, w.shape)
    # Same answer as float64 up to float32 rounding.
    y64 = conv2d(x.astype(np.float64), w.astype(np.float64), layout=layout)
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-3)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 9, 8)).transpose(0, 1, 3, 2)[:, ::2]
    w = rng.standard_normal((4, 3, 2, 3))[:, :, ::-1]
    gy = rng.standard_normal((3, 4, 7, 7)).transpose(0, 1, 3, 2)
    np.testing.assert_allclose(conv2d(x, w), conv2d_ref(x, w))
    np.testing.assert_allclose(conv2d_grad_inputs(gy, w, (8, 9)),
                               conv2d_grad_inputs_ref(gy, w, (8, 9)))
    np.testing.assert_allclose(conv2d_grad_weights(x, gy, (2, 3)),
                               conv2d_grad_weights_ref(x, gy, (2, 3)))


def test_shape_errors():
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((2, 2, 3, 3))
    with pytest.raises(ValueError, match="3 channels"):
        conv2d(x, w)
    with pytest.raises(ValueError, match="empty output"):
        conv2d(x, np.zeros((2, 3, 6, 6)))
    with pytest.raises(ValueError, match="gy has shape"):
        conv2d_grad_weights(x, np.zeros((1, 2, 4, 4)), (3, 3), groups=1)


def test_a_small_unsplit_gemm_job_runs_on_one_blas_thread():
    from symconv.backends import blas, numpy_conv
    if blas.get_num_threads() is None:
        pytest.skip("no BLAS library found through threadpoolctl")
    seen = []
    with blas.num_threads(2):
        numpy_conv.parallel_map(lambda a, b: seen.append(blas.get_num_threads()), 1, 1, True,
                                gemm_size=numpy_conv.SMALL_GEMM - 1)
        numpy_conv.parallel_map(lambda a, b: seen.append(blas.get_num_threads()), 1, 1, True,
                                gemm_size=numpy_conv.SMALL_GEMM)
        after = blas.get_num_threads()
    assert seen == [1, 2] and after == 2
