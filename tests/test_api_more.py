"""Issue 13's rest beyond the recorded Theano values: ``compile.mode`` as Theano users import
it, generic shared variables, gradients of updates through boolean masks, symbolic pooling
sizes, ``pool_3d`` and ``bilinear_upsampling`` (against naive references and finite
differences)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from tests.util import check_grad

M = np.array([[1.5, -2.0, 0.5], [-1.0, 3.0, -0.25], [2.0, -3.5, 1.0]])


# ---- symconv.compile.mode ----------------------------------------------------------------

def test_compile_mode_imports_as_theano_users_write_them():
    from symconv.compile.mode import Mode, get_default_mode, get_mode
    module = importlib.import_module("symconv.compile.mode")
    assert symconv.compile.mode is module and module.get_mode is get_mode
    assert isinstance(get_default_mode(), Mode) and get_default_mode().name == "FAST_RUN"
    with symconv.change_flags(mode="FAST_COMPILE"):
        assert get_default_mode().name == "FAST_COMPILE"
    assert get_mode("DebugMode").name == "DebugMode"
    with pytest.raises(ValueError, match="No predefined mode .*'nope'"):
        get_mode("nope")


def test_debug_mode_from_get_mode_checks_types():
    x = T.dvector("x")
    f = symconv.function([x], T.exp(x), mode=symconv.compile.mode.get_mode("DebugMode"))
    assert f.program.instrument == "check"
    np.testing.assert_allclose(f(np.zeros(2)), np.ones(2))


# ---- shared variables of any Python object ---------------------------------------------

def test_generic_shared_has_no_arithmetic_and_says_so():
    s = symconv.shared({"a": 1})
    assert str(s.type) == "Generic"
    with pytest.raises(TypeError, match="input 0 .* is a Generic, not a tensor"):
        T.exp(s)
    with pytest.raises(TypeError, match="update must have the same type"):
        symconv.function([], [], updates=[(s, T.dscalar())])


def test_generic_shared_state_is_held_and_copied_as_theano():
    value = {"a": [1]}
    s = symconv.shared(value)
    assert s.get_value(borrow=True) is value
    copy = s.get_value()
    copy["a"].append(2)
    assert value == {"a": [1]}
    s.set_value(copy)
    assert s.get_value(borrow=True) is not copy and s.get_value() == {"a": [1, 2]}


# ---- set_subtensor / inc_subtensor on boolean masks -----------------------------------------

def test_set_subtensor_through_a_mask_has_a_gradient():
    # Theano 1.0.5 raises here (AdvancedSubtensor refuses the mask); symconv differentiates
    mask = M > 0
    check_grad(lambda x, v: (T.set_subtensor(x[T.constant(mask)], v) ** 2).sum(),
               [M, np.arange(1.0, 6.0)])
    check_grad(lambda x: (T.set_subtensor(x[x > 0], x[x > 0] ** 2) * x).sum(), [M])


def test_mask_value_count_mismatch_is_an_error():
    x, v = T.dmatrix("x"), T.dvector("v")
    f = symconv.function([x, v], T.set_subtensor(x[x > 0], v))
    with pytest.raises(ValueError):
        f(M, np.ones(3))


# ---- pooling with symbolic sizes and pool_3d ------------------------------------------------

def _perm(*shape: int, seed: int = 0) -> np.ndarray:
    # distinct values: no ties, so max gradients are unambiguous
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) / 10.0


def _naive_pool_3d(x, ws, stride, pad, ignore_border, mode):
    """Loops over every output position; windows clipped to the (padded) input."""
    from symconv.ops.pool import pool_output_size
    n = x.shape[-3:]
    out_sz = [pool_output_size(a, w, s, p, ignore_border) for a, w, s, p in
              zip(n, ws, stride, pad)]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 3) + [(p, p) for p in pad],
                    constant_values=-np.inf if mode == "max" else 0)
    out = np.zeros(x.shape[:-3] + tuple(out_sz))
    for o in np.ndindex(*out_sz):
        lo = [i * s for i, s in zip(o, stride)]
        hi = [min(a + w, m + 2 * p) for a, w, m, p in zip(lo, ws, n, pad)]
        win = padded[(Ellipsis,) + tuple(slice(a, b) for a, b in zip(lo, hi))]
        if mode == "max":
            out[(Ellipsis,) + o] = win.max(axis=(-3, -2, -1))
        elif mode == "sum":
            out[(Ellipsis,) + o] = win.sum(axis=(-3, -2, -1))
        elif mode == "average_inc_pad":
            out[(Ellipsis,) + o] = win.sum(axis=(-3, -2, -1)) / np.prod(
                [b - a for a, b in zip(lo, hi)])
        else:
            real = [max(0, min(b, m + p) - max(a, p)) for a, b, m, p in zip(lo, hi, n, pad)]
            out[(Ellipsis,) + o] = win.sum(axis=(-3, -2, -1)) / np.prod(real)
    return out


@pytest.mark.parametrize("mode,ignore_border,stride,pad", [
    ("max", True, None, (0, 0, 0)), ("max", False, (1, 2, 2), (0, 0, 0)),
    ("max", True, (2, 1, 1), (1, 1, 0)), ("sum", True, (2, 1, 2), (1, 0, 1)),
    ("average_inc_pad", True, None, (1, 1, 0)), ("average_exc_pad", True, (1, 2, 1), (1, 1, 1)),
    ("average_exc_pad", False, (3, 1, 1), (0, 0, 0))])
def test_pool_3d_against_naive_loops_and_finite_differences(mode, ignore_border, stride, pad):
    from symconv.tensor.signal.pool import pool_3d
    xv = _perm(2, 5, 6, 4)
    ws = (2, 3, 2)
    x = T.TensorType("float64", shape=xv.shape)("x")
    y = pool_3d(x, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    got = symconv.function([x], y)(xv)
    want = _naive_pool_3d(xv, ws, stride or ws, pad, ignore_border, mode)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert y.type.shape == want.shape    # constant sizes give static shapes
    check_grad(lambda v: (pool_3d(v, ws=ws, ignore_border=ignore_border, stride=stride,
                                  pad=pad, mode=mode) ** 2).sum(), [xv])


@pytest.mark.parametrize("mode", ["max", "average_exc_pad", "sum"])
def test_pool_2d_with_tensor_sizes_matches_constant_sizes_and_has_second_order_grads(mode):
    from symconv.tensor.signal.pool import pool_2d
    xv = _perm(2, 3, 7, 6)
    x, ws, st, pd = T.dtensor4("x"), T.lvector("ws"), T.lvector("st"), T.lvector("pd")
    dyn = pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True, mode=mode)
    static = pool_2d(x, ws=(3, 2), stride=(2, 1), pad=(1, 1), ignore_border=True, mode=mode)
    assert dyn.type.shape == (None,) * 4
    f = symconv.function([x, ws, st, pd], [dyn, T.grad((dyn ** 2).sum(), x), static,
                                          T.grad((static ** 2).sum(), x)])
    a, ga, b, gb = f(xv, [3, 2], [2, 1], [1, 1])
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(ga, gb, rtol=1e-12)
    sizes = [T.constant(np.array(v)) for v in ([3, 2], [2, 1], [1, 1])]
    check_grad(lambda v: (pool_2d(v, ws=sizes[0], stride=sizes[1], pad=sizes[2],
                                  ignore_border=True, mode=mode) ** 2).sum(), [xv])
    # the gradient's own gradient (the max family's adjoint ops)
    check_grad(lambda v: (T.grad((pool_2d(v, ws=sizes[0], stride=sizes[1], pad=sizes[2],
                                          ignore_border=True, mode=mode) ** 2).sum(), v)
                          ** 2).sum(), [xv])


def test_tensor_pool_sizes_are_checked_at_run_time():
    from symconv.ops.pool import PoolError
    from symconv.tensor.signal.pool import pool_2d
    x, ws, pd = T.dtensor4("x"), T.lvector("ws"), T.lvector("pd")
    f = symconv.function([x, ws, pd], pool_2d(x, ws=ws, pad=pd, ignore_border=True))
    with pytest.raises(PoolError, match="padding .* must be smaller than the window"):
        f(np.zeros((1, 1, 4, 4)), [2, 2], [2, 0])
    with pytest.raises(PoolError, match="ws must have 2 entries"):
        f(np.zeros((1, 1, 4, 4)), [2, 2, 2], [0, 0])
    with pytest.raises(TypeError, match="ws must be an int vector"):
        pool_2d(x, ws=T.dvector(), ignore_border=True)
    with pytest.raises(PoolError, match="padding .* works only with ignore_border=True"):
        pool_2d(x, ws=T.constant(np.array([2, 2])), pad=(1, 1), ignore_border=False)


# ---- bilinear_upsampling ----------------------------------------------------------------------

def _naive_upsample_1d(v: np.ndarray, r: int) -> np.ndarray:
    """Theano's definition: the transposed strided convolution, one output at a time."""
    n, pad = len(v), 2 * r - (r - 1) // 2 - 1
    replicated = np.concatenate([v[:1], v, v[-1:]])
    out = np.zeros(n * r)
    for o in range(n * r):
        for i, value in enumerate(replicated):
            j = o + pad - i * r
            if 0 <= j < 2 * r - 1:
                out[o] += value * (r - abs(j - (r - 1))) / r
    return out


@pytest.mark.parametrize("ratio", [1, 2, 3, 4])
def test_bilinear_upsampling_against_naive_loops_and_finite_differences(ratio):
    from symconv.tensor.nnet.abstract_conv import bilinear_upsampling
    xv = np.random.default_rng(ratio).normal(size=(2, 1, 3, 4))
    x = T.dtensor4("x")
    got = symconv.function([x], bilinear_upsampling(x, ratio=ratio))(xv)
    want = np.apply_along_axis(_naive_upsample_1d, 2, xv, ratio)
    want = np.apply_along_axis(_naive_upsample_1d, 3, want, ratio)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    check_grad(lambda v: (bilinear_upsampling(v, ratio=ratio) ** 2).sum(), [xv])
    check_grad(lambda v: (T.grad((bilinear_upsampling(v, ratio=ratio) ** 3).sum(), v) ** 2
                          ).sum(), [xv])


def test_bilinear_upsampling_refuses_what_it_does_not_support():
    from symconv.tensor.nnet.abstract_conv import bilinear_upsampling
    with pytest.raises(NotImplementedError, match="frac_ratio"):
        bilinear_upsampling(T.dtensor4(), frac_ratio=(3, 2), use_1D_kernel=False)
    with pytest.raises(TypeError, match="must be 4-d"):
        bilinear_upsampling(T.dmatrix(), ratio=2)
    with pytest.raises(ValueError, match="No ratio"):
        bilinear_upsampling(T.dtensor4())


# ---- inputs that keep state ---------------------------------------------------------------------

def test_stateful_inputs_store_checked_values_and_name_bad_keys():
    x, s = T.dscalar("x"), T.dscalar("s")
    f = symconv.function([x, symconv.In(s, update=s + x, value=1.0)], s * 10)
    assert f(2.0) == 10.0 and f["s"] == 3.0 and f[1] == 3.0 and f[s] == 3.0
    with pytest.raises(KeyError, match="no input 'nope'"):
        f["nope"]
    with pytest.raises(KeyError, match="has no stored value"):
        f[x]
    with pytest.raises(TypeError, match="stored value of input s"):
        f["s"] = "abc"
    with pytest.raises(TypeError, match="read-only"):
        f.container[s] = 1.0
    with pytest.raises(TypeError, match="cannot read the input"):
        symconv.function([x, (1, 2, 3, 4)], x)
    from symconv.printing import debugprint
    assert "mul" in debugprint(f, file="str") and f.maker.fgraph.toposort()


def test_a_state_without_initial_value_is_given_by_the_first_call():
    x, s = T.dvector("x"), T.dvector("s")
    f = symconv.function([x, symconv.In(s, update=s + x)], s.sum())
    with pytest.raises(TypeError, match="Missing required input: s"):
        f(np.ones(2))
    assert f(np.ones(2), np.zeros(2)) == 0.0
    assert f(np.ones(2)) == 2.0
    np.testing.assert_array_equal(f["s"], [2.0, 2.0])


# ---- MonitorMode --------------------------------------------------------------------------------

def test_monitor_mode_sees_every_node_in_schedule_order():
    from symconv.compile import MonitorMode
    from symconv.printing import debugprint
    calls = []

    def post(i, node, fn):
        calls.append((i, node.op.name, np.array(fn.outputs[0][0]),
                      [np.array(c[0]) for c in fn.inputs]))
        assert "x" in debugprint(node, file="str")

    a, x = T.dmatrix("a"), T.dvector("x")
    mode = MonitorMode(post_func=post).excluding("local_elemwise_fusion", "inplace")
    f = symconv.function([a, x], T.dot(a, x).sum(), mode=mode)
    av, xv = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0, 2.0])
    assert f(av, xv) == (av @ xv).sum()
    assert [c[0] for c in calls] == list(range(len(calls))) and len(calls) >= 2
    np.testing.assert_array_equal(calls[0][2], av @ xv)
    np.testing.assert_array_equal(calls[0][3][0], av)
    assert calls[-1][2] == (av @ xv).sum()
    assert isinstance(mode, MonitorMode)


def test_detect_nan_prints_the_node_only_for_nan(capsys):
    from symconv.compile.monitormode import MonitorMode, detect_nan
    x = T.dscalar("x")
    f = symconv.function([x], T.log(x) * x, mode=MonitorMode(post_func=detect_nan))
    f(2.0)
    assert capsys.readouterr().out == ""
    with np.errstate(divide="ignore", invalid="ignore"):   # log(0) * 0 is NaN on purpose
        f(0.0)
    out = capsys.readouterr().out
    assert "*** NaN detected ***" in out and "created at" in out


# ---- as_op ---------------------------------------------------------------------------------------

def test_as_op_result_is_checked_and_runs_on_the_host_under_cuda():
    from symconv.backends.base import OVERRIDES
    from symconv.compile.ops import as_op

    @as_op(itypes=[T.dvector], otypes=[T.dvector])
    def broken(a):
        return np.outer(a, a)          # a matrix where a vector was declared

    x = T.dvector("x")
    y = broken(x)
    assert y.type == T.dvector and repr(broken) == "as_op(broken)"
    with pytest.raises(TypeError, match="broken returned a value that is not a"):
        symconv.function([x], y)(np.ones(2))
    assert y.owner.op in OVERRIDES["cuda"]   # host fallback on the GPU backend
    with pytest.raises(TypeError, match="itypes and otypes must be tensor types"):
        as_op(itypes=[np.float64], otypes=[T.dvector])
    with pytest.raises(NotImplementedError, match="broken .* has no gradient"):
        T.grad(y.sum(), x)   # no gradient, as Theano's as_op (never a silent zero)
