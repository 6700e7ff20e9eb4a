"""conv2d and its gradient ops as graph ops: forward vs the loop reference on random configurations
(lowered and generic kernels), finite differences, second order, shape rules, build-time errors."""
import warnings

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.ops import conv as conv_ops
from tests.reference import conv2d_grad_inputs_ref, conv2d_grad_weights_ref, conv2d_ref
from tests.util import assert_backends_agree, check_grad

BORDER_MODES = ["valid", "full", "half", 1, (2, 0), (0, 1)]


def _random_config(rng):
    """One convolution with every parameter drawn, small enough for the loop reference."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, og = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    border_mode = BORDER_MODES[int(rng.integers(len(BORDER_MODES)))]
    dkh, dkw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    h, w = dkh + int(rng.integers(0, 5)), dkw + int(rng.integers(0, 5))
    return dict(x_shape=(int(rng.integers(1, 3)), cg * groups, h, w),
                w_shape=(og * groups, cg, kh, kw),
                params=dict(border_mode=border_mode,
                            subsample=(int(rng.integers(1, 4)), int(rng.integers(1, 3))),
                            filter_flip=bool(rng.integers(2)), filter_dilation=dil,
                            num_groups=groups))


def _ref_kwargs(cfg):
    p = cfg["params"]
    kh, kw = cfg["w_shape"][2:]
    pad = conv_ops.border_pad(p["border_mode"], kh, kw, p["filter_dilation"])
    return dict(pad=pad, subsample=p["subsample"], dilation=p["filter_dilation"],
                flip=p["filter_flip"], groups=p["num_groups"])


def test_random_configs_forward_and_gradient_ops(rng):
    # 120 configurations: the graph (NumPy lowering), and the generic xp kernel, of each of the
    # three ops against the loop reference.
    x, w, gy = T.tensor4("x"), T.tensor4("w"), T.tensor4("gy")
    seen_modes, seen_flip = set(), set()
    for _ in range(120):
        cfg = _random_config(rng)
        p, ref = cfg["params"], _ref_kwargs(cfg)
        seen_modes.add(str(p["border_mode"]))
        seen_flip.add(p["filter_flip"])
        xv, wv = rng.normal(size=cfg["x_shape"]), rng.normal(size=cfg["w_shape"])
        want = conv2d_ref(xv, wv, **ref)
        gyv = rng.normal(size=want.shape)
        hw, khw = cfg["x_shape"][2:], cfg["w_shape"][2:]
        gi = T.nnet.conv2d_grad_wrt_inputs(gy, w, (None, None) + hw, **p)
        gw = T.nnet.conv2d_grad_wrt_weights(x, gy, (None, None) + khw, **p)
        f = symconv.function([x, w, gy], [T.nnet.conv2d(x, w, **p), gi, gw])
        y, gx, gwv = f(xv, wv, gyv)
        want_gx = conv2d_grad_inputs_ref(gyv, wv, hw, **ref)
        want_gw = conv2d_grad_weights_ref(xv, gyv, khw, **ref)
        np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10, err_msg=str(cfg))
        np.testing.assert_allclose(gx, want_gx, rtol=1e-10, atol=1e-10, err_msg=str(cfg))
        np.testing.assert_allclose(gwv, want_gw, rtol=1e-10, atol=1e-10, err_msg=str(cfg))
        generic = [conv_ops.conv2d.kernel(np, xv, wv, **p),
                   conv_ops.conv2d_grad_wrt_inputs.kernel(np, gyv, wv, np.array(hw), **p),
                   conv_ops.conv2d_grad_wrt_weights.kernel(np, xv, gyv, np.array(khw), **p)]
        for got, ref_value in zip(generic, [want, want_gx, want_gw]):
            np.testing.assert_allclose(got, ref_value, rtol=1e-10, atol=1e-10, err_msg=str(cfg))
    assert seen_modes == {str(m) for m in BORDER_MODES} and seen_flip == {True, False}


def test_float32_stays_float32(rng):
    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    y = T.nnet.conv2d(x, w)
    gx, gw = T.grad(y.sum(), [x, w])
    assert y.dtype == gx.dtype == gw.dtype == "float32"
    out = symconv.function([x, w], [y, gx, gw], mode="DebugMode")(
        rng.normal(size=(2, 3, 8, 8)).astype("float32"),
        rng.normal(size=(4, 3, 3, 3)).astype("float32"))
    assert all(o.dtype == np.float32 for o in out)


GRAD_CASES = [
    dict(border_mode="valid"),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 1)),
    dict(border_mode=(1, 2), subsample=(2, 2), filter_dilation=(2, 1)),
    dict(border_mode=1, num_groups=2),
]


@pytest.mark.parametrize("params", GRAD_CASES)
def test_finite_differences(params, rng):
    # conv2d and both gradient ops, each differentiated wrt all of its array inputs
    g = params.get("num_groups", 1)
    xv, wv = rng.normal(size=(2, 2 * g, 5, 4)), rng.normal(size=(2 * g, 2, 3, 2))
    y_shape = symconv.function([], T.nnet.conv2d(xv, wv, **params))().shape
    gyv = rng.normal(size=y_shape)
    check_grad(lambda x, w: T.nnet.conv2d(x, w, **params), [xv, wv])
    check_grad(lambda gy, w: T.nnet.conv2d_grad_wrt_inputs(gy, w, xv.shape, **params), [gyv, wv])
    check_grad(lambda x, gy: T.nnet.conv2d_grad_wrt_weights(x, gy, wv.shape, **params),
               [xv, gyv])


def test_grad_of_grad(rng):
    # second order through the family: d/dw of |d cost / dx|^2 by finite differences
    xv, wv = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3))

    def grad_norm(x, w):
        y = T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 1))
        gx = T.grad((T.tanh(y) ** 2).sum(), x)
        return (gx ** 2).sum()
    check_grad(grad_norm, [xv, wv])
    x, w = T.tensor4("x"), T.tensor4("w")
    gx = T.grad(T.nnet.conv2d(x, w).sum(), x)
    hess = T.grad((gx ** 2).sum(), w)
    ops = {n.op.name for n in symconv.graph.toposort([hess])}
    assert {"conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights"} <= ops


@pytest.mark.parametrize("border_mode", BORDER_MODES)
@pytest.mark.parametrize("subsample,dilation", [((1, 1), (1, 1)), ((2, 3), (1, 1)),
                                                ((1, 2), (2, 1))])
def test_output_shape_formula(border_mode, subsample, dilation, rng):
    # static inference agrees with (in + 2 pad - dk) // s + 1 and with the computed array
    x = T.tensor4("x", shape=(2, 3, 11, 8))
    w = T.tensor4("w", shape=(4, 3, 3, 2))
    y = T.nnet.conv2d(x, w, border_mode=border_mode, subsample=subsample,
                      filter_dilation=dilation)
    pad = {"valid": (0, 0), "full": (2 * dilation[0], dilation[1]),
           "half": ((2 * dilation[0] + 1) // 2, (dilation[1] + 1) // 2)}.get(
        border_mode, border_mode if isinstance(border_mode, tuple) else (border_mode,) * 2)
    dk = (2 * dilation[0] + 1, dilation[1] + 1)
    want = (2, 4) + tuple((n + 2 * p - k) // s + 1
                          for n, p, k, s in zip((11, 8), pad, dk, subsample))
    assert y.type.shape == want
    got = symconv.function([x, w], y)(rng.normal(size=(2, 3, 11, 8)),
                                      rng.normal(size=(4, 3, 3, 2)))
    assert got.shape == want


def test_static_shape_partially_known():
    x = T.tensor4("x")
    y = T.nnet.conv2d(x, symconv.shared(np.zeros((6, 1, 5, 5))))
    assert y.type.shape == (None, None, None, None)
    x = T.tensor4("x", shape=(None, 1, 28, 28))
    w = T.tensor4("w", shape=(20, 1, 5, 5))
    assert T.nnet.conv2d(x, w).type.shape == (None, 20, 24, 24)


def test_symbolic_spatial_shape_for_gradients(rng):
    # grads of a conv whose input size is only known at run time read it from shape(x)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, subsample=(2, 2))
    gx, gw = T.grad((y ** 2).sum(), [x, w])
    xv, wv = rng.normal(size=(1, 2, 8, 7)), rng.normal(size=(3, 2, 3, 3))
    gxv, gwv = symconv.function([x, w], [gx, gw])(xv, wv)
    yv = conv2d_ref(xv, wv, subsample=(2, 2))
    np.testing.assert_allclose(gxv, conv2d_grad_inputs_ref(2 * yv, wv, (8, 7), subsample=(2, 2)))
    np.testing.assert_allclose(gwv, conv2d_grad_weights_ref(xv, 2 * yv, (3, 3), subsample=(2, 2)))


def test_transpose_is_grad_wrt_inputs(rng):
    gy, w = T.tensor4("gy"), T.tensor4("w")
    gyv, wv = rng.normal(size=(2, 4, 4, 4)), rng.normal(size=(4, 2, 3, 3))
    out = T.nnet.conv2d_transpose(gy, w, (2, 2, 7, 8), input_dilation=(2, 2), border_mode=1)
    got = symconv.function([gy, w], out)(gyv, wv)
    want = conv2d_grad_inputs_ref(gyv, wv, (7, 8), pad=(1, 1), subsample=(2, 2))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_old_conv_path_and_image_shape_alias(rng):
    x, w = T.tensor4("x"), T.tensor4("w")
    xv, wv = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(2, 3, 3, 3))
    old = T.nnet.conv.conv2d(x, w, image_shape=(2, 3, 6, 6), filter_shape=(2, 3, 3, 3),
                             border_mode="full")
    np.testing.assert_allclose(symconv.function([x, w], old)(xv, wv),
                               conv2d_ref(xv, wv, pad=(2, 2)), rtol=1e-12)
    with pytest.warns(DeprecationWarning, match="image_shape"):
        T.nnet.conv2d(x, w, image_shape=(2, 3, 6, 6))
    with pytest.raises(ValueError, match="same time"):
        T.nnet.conv2d(x, w, image_shape=(2, 3, 6, 6), input_shape=(2, 3, 6, 6))
    with pytest.raises(ValueError, match="'valid' or 'full'"):
        T.nnet.conv.conv2d(x, w, border_mode="half")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.nnet.conv2d(x, w, input_shape=(2, 3, 6, 6))   # the new name does not warn


# ---- build-time errors -------------------------------------------------------------------------


def test_channel_mismatch_names_both_shapes():
    x = T.tensor4("x", shape=(None, 3, 8, 8))
    w = T.tensor4("w", shape=(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"input has 3 channels.*expect 2.*"
                                         r"\(\?, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        T.nnet.conv2d(x, w)


def test_hint_errors():
    x, w = T.tensor4("x"), T.tensor4("w")
    with pytest.raises(ValueError, match=r"3 channels.*\(10, 3, 28, 28\).*\(20, 1, 5, 5\)"):
        T.nnet.conv2d(x, w, input_shape=(10, 3, 28, 28), filter_shape=(20, 1, 5, 5))
    with pytest.raises(ValueError, match="does not match the static shape"):
        T.nnet.conv2d(T.tensor4("x", shape=(None, 1, 28, 28)), w, input_shape=(10, 2, 28, 28))
    with pytest.raises(ValueError, match="4 entries"):
        T.nnet.conv2d(x, w, filter_shape=(20, 1, 5))
    with pytest.raises(ValueError, match=r"3 channels.*\(20, 1, 5, 5\)"):
        T.nnet.conv2d(T.tensor4("x", shape=(None, 3, None, None)), w, filter_shape=(20, 1, 5, 5))


@pytest.mark.parametrize("kwargs,match", [
    (dict(border_mode="same"), "border_mode"),
    (dict(border_mode=-1), "border_mode"),
    (dict(subsample=(0, 1)), "subsample"),
    (dict(filter_dilation=(1, 2, 3)), "filter_dilation"),
    (dict(num_groups=0), "num_groups"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.nnet.conv2d(T.tensor4("x"), T.tensor4("w"), **kwargs)


def test_other_build_errors():
    with pytest.raises(TypeError, match="4-d"):
        T.nnet.conv2d(T.matrix("x"), T.tensor4("w"))
    with pytest.raises(ValueError, match="empty output"):
        T.nnet.conv2d(T.tensor4("x", shape=(1, 1, 4, 4)), T.tensor4("w", shape=(1, 1, 5, 5)))
    with pytest.raises(ValueError, match="num_groups=2"):
        T.nnet.conv2d(T.tensor4("x", shape=(1, 3, 4, 4)), T.tensor4("w"), num_groups=2)
    with pytest.raises(TypeError, match="float"):
        T.nnet.conv2d(T.tensor4("x", dtype="int32"), T.tensor4("w", dtype="int32"))
    with pytest.raises(ValueError, match="output_grad shape"):
        T.nnet.conv2d_grad_wrt_inputs(T.tensor4("gy", shape=(1, 2, 5, 5)),
                                      T.tensor4("w", shape=(2, 1, 3, 3)), (1, 1, 8, 8))
    with pytest.raises(ValueError, match="spatial sizes"):
        T.nnet.conv2d_grad_wrt_weights(T.tensor4("x"), T.tensor4("gy"), (2, 1, None, 3))


# ---- the NumPy backend's thread handling -------------------------------------------------------


def test_blas_thread_scope_restores():
    from symconv.backends import blas
    before = blas.get_num_threads()
    with blas.num_threads(1):
        assert blas.get_num_threads() in (None, 1)
    assert blas.get_num_threads() == before


@pytest.mark.parametrize("shape", [(3, 4, 5), (300, 200, 100), (301, 150, 90)])
@pytest.mark.parametrize("beside_conv", [False, True])
def test_dot_lowering_agrees_with_generic_kernel(shape, beside_conv, rng):
    # with a conv in the same program, large products are split by rows over the worker
    # threads; small ones, and every one in a program without conv, are plain np.dot
    m, k, n = shape
    a, b = T.matrix("a", dtype="float32"), T.matrix("b", dtype="float32")
    inputs, outputs = [a, b], [T.dot(a, b), T.dot(a.T, a)]
    values = [rng.normal(size=(m, k)).astype("float32"), rng.normal(size=(k, n)).astype("float32")]
    if beside_conv:
        x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
        inputs, outputs = inputs + [x, w], outputs + [T.nnet.conv2d(x, w)]
        values += [rng.normal(size=(1, 1, 4, 4)).astype("float32"),
                   rng.normal(size=(1, 1, 2, 2)).astype("float32")]
    checked = assert_backends_agree(inputs, outputs, values, rtol=1e-5, atol=1e-4)
    assert symconv.ops.linalg.dot in checked
