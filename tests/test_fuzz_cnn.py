"""Property-based differential tests of convolution blocks: random conv2d -> (bias, activation,
pool) pipelines in both LeNet orders, with random borders, strides, dilations, pool windows
and modes, on data that often has ties (integer-valued), compiled in FAST_RUN and
FAST_COMPILE. Values and the gradients wrt the image, filters and bias are compared with the
naive loop references of tests/reference.py (Theano's rules: every tied maximum gets the
gradient; relu'(0) = 0.5). This is the net under every conv/pool rewrite (fused kernels,
max-pool switches): any rewrite that changes a number fails here."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import symconv
import symconv.tensor as T
from symconv.tensor.signal.pool import pool_2d
from tests.reference import (conv2d_grad_inputs_ref, conv2d_grad_weights_ref, conv2d_ref,
                             pool2d_grad_ref, pool2d_ref)

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ACTIVATIONS = {
    "tanh": (T.tanh, np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (T.nnet.relu, lambda z: np.maximum(z, 0), lambda z: 0.5 * (1 + np.sign(z))),
    "none": (lambda v: v, lambda z: z, np.ones_like),
}


@st.composite
def blocks(draw):
    """One block: shapes, conv geometry, pool geometry, activation, order, data kind."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = draw(st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2)]))
    border = draw(st.sampled_from(["valid", "full", "pad"]))
    pad = {"valid": (0, 0), "full": ((kh - 1) * dil[0], (kw - 1) * dil[1]),
           "pad": (draw(st.integers(0, 2)), draw(st.integers(0, 2)))}[border]
    sub = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
    h, w = draw(st.integers((kh - 1) * dil[0] + 1, 8)), draw(st.integers((kw - 1) * dil[1] + 1, 8))
    oh = (h + 2 * pad[0] - (kh - 1) * dil[0] - 1) // sub[0] + 1
    ow = (w + 2 * pad[1] - (kw - 1) * dil[1] - 1) // sub[1] + 1
    ws = (draw(st.integers(1, min(3, oh))), draw(st.integers(1, min(3, ow))))
    ignore_border = draw(st.booleans())
    pool_pad = (0, 0)
    if ignore_border and draw(st.booleans()):
        pool_pad = (draw(st.integers(0, ws[0] - 1)), draw(st.integers(0, ws[1] - 1)))
    stride = draw(st.sampled_from([None, None, (1, 1), (2, 1), (ws[0] + 1, ws[1])]))
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 2)), k=draw(st.integers(1, 3)),
                h=h, w=w, kh=kh, kw=kw, border=border, pad=pad, sub=sub, dil=dil, ws=ws,
                ignore_border=ignore_border, pool_pad=pool_pad, stride=stride,
                mode=draw(st.sampled_from(["max", "max", "max", "sum", "average_inc_pad",
                                           "average_exc_pad"])),
                act=draw(st.sampled_from(sorted(ACTIVATIONS))),
                bias_first=draw(st.booleans()), ties=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 16)))


def _data(b):
    rng = np.random.default_rng(b["seed"])
    shapes = [(b["n"], b["c"], b["h"], b["w"]), (b["k"], b["c"], b["kh"], b["kw"]), (b["k"],)]
    if b["ties"]:     # small integers: equal conv outputs, hence tied maxima, are common
        return [rng.integers(-1, 2, size=s).astype(np.float64) for s in shapes]
    return [rng.normal(size=s) for s in shapes]


def _symbolic(b, x, w, bias):
    act = ACTIVATIONS[b["act"]][0]
    border = b["border"] if b["border"] != "pad" else b["pad"]
    y = T.nnet.conv2d(x, w, border_mode=border, subsample=b["sub"], filter_dilation=b["dil"])
    pool = lambda v: pool_2d(v, ws=b["ws"], ignore_border=b["ignore_border"],  # noqa: E731
                             stride=b["stride"], pad=b["pool_pad"], mode=b["mode"])
    shift = bias.dimshuffle("x", 0, "x", "x")
    return pool(act(y + shift)) if b["bias_first"] else act(pool(y) + shift)


def _reference(b, x, w, bias, rng):
    """(g, output, d/dx, d/dw, d/dbias) of sum(g * block) from the naive loops, g drawn from
    ``rng`` once the output's shape is known."""
    _, act, dact = ACTIVATIONS[b["act"]]
    conv = dict(pad=b["pad"], subsample=b["sub"], dilation=b["dil"])
    pool = dict(ws=b["ws"], stride=b["stride"], pad=b["pool_pad"],
                ignore_border=b["ignore_border"], mode=b["mode"])
    y = conv2d_ref(x, w, **conv)
    shift = bias[None, :, None, None]
    if b["bias_first"]:
        z = y + shift
        a = act(z)
        out = pool2d_ref(a, **pool)
        g = rng.normal(size=out.shape)
        gz = pool2d_grad_ref(a, out, g, **pool) * dact(z)
        gy = gz
    else:
        p = pool2d_ref(y, **pool)
        z = p + shift
        out = act(z)
        g = rng.normal(size=out.shape)
        gz = g * dact(z)
        gy = pool2d_grad_ref(y, p, gz, **pool)
    return [g, out, conv2d_grad_inputs_ref(gy, w, x.shape[2:], **conv),
            conv2d_grad_weights_ref(x, gy, w.shape[2:], **conv), gz.sum(axis=(0, 2, 3))]


@pytest.mark.parametrize("mode,dtype", [("FAST_RUN", "float64"), ("FAST_COMPILE", "float64"),
                                        ("FAST_RUN", "float32")])
@SETTINGS
@given(b=blocks())
def test_conv_blocks_and_their_gradients_match_the_naive_loops(mode, dtype, b):
    if dtype == "float32":
        # integer-valued data only: sums are exact, so the reference run in float32 sees the
        # same tied maxima as the float32 kernels (random data could rank near-ties apart)
        b = {**b, "ties": True}
    x, w, g = (T.tensor4(name, dtype=dtype) for name in "xwg")
    bias = T.vector("b", dtype=dtype)
    out = _symbolic(b, x, w, bias)
    grads = T.grad((out * g).sum(), [x, w, bias])
    f = symconv.function([x, w, bias, g], [out] + grads, mode=mode)
    xv, wv, bv = (v.astype(dtype) for v in _data(b))
    gv, *want = _reference(b, xv, wv, bv, np.random.default_rng(b["seed"] + 1))
    got = f(xv, wv, bv, gv.astype(dtype))
    tol = 1e-9 if dtype == "float64" else 2e-5
    for name, a, e in zip(("output", "d/dx", "d/dw", "d/db"), got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=f"{name} of {b}")
