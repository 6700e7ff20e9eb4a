"""Regressions for results that were silently wrong (issue 9): one test per defect found by
differential fuzzing, plus atomic failing calls and clear errors."""
import pickle

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.tensor.nnet import conv2d


def _vec(dtype):
    return T.tensor(dtype, broadcastable=(False,))


# ---- 1, 2: sigmoid / softplus of discrete dtypes are computed in the result's float ---------

@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64", "int8", "int16",
                                   "int32", "int64", "bool"])
def test_sigmoid_softplus_of_discrete_inputs_match_float64(dtype):
    x = _vec(dtype)
    values = np.array([0, 1, 2, 3], dtype) if dtype != "bool" else np.array([0, 1, 1, 0], bool)
    if dtype[0] == "i":
        values = np.array([1, 2, 3, -3], dtype)
    f = symconv.function([x], [T.nnet.sigmoid(x), T.nnet.softplus(x),
                               T.log(T.nnet.sigmoid(x))])
    sig, soft, logsig = f(values)
    want_dtype = "float32" if dtype in ("bool", "int8", "uint8", "int16", "uint16") \
        else "float64"
    ref = values.astype("float64")
    for got, want in [(sig, 1 / (1 + np.exp(-ref))), (soft, np.log1p(np.exp(ref))),
                      (logsig, -np.log1p(np.exp(-ref)))]:
        assert got.dtype == want_dtype
        rtol = 1e-6 if want_dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)


# ---- 3: inc_subtensor with a matrix index and a value of lower rank ------------------------

def test_advanced_inc_subtensor_broadcasts_a_lower_rank_value():
    x, i, y = T.dvector("x"), T.lmatrix("i"), T.dvector("y")
    f = symconv.function([x, i, y], T.inc_subtensor(x[i], y))
    got = f(np.zeros(3), [[0, 1, 1], [2, 1, 0]], [1.0, 10.0, 100.0])
    want = np.zeros(3)
    np.add.at(want, np.array([[0, 1, 1], [2, 1, 0]]),
              np.broadcast_to([1.0, 10.0, 100.0], (2, 3)))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [101.0, 120.0, 1.0])


# ---- 4, 5, 6, 11: no returned array aliases another, an update or a shared value ----------

def test_output_that_is_also_an_update_is_a_copy():
    W = symconv.shared(np.zeros(3))
    x = T.dvector("x")
    nw = W + x
    f = symconv.function([x], nw, updates=[(W, nw)])
    r = f(np.ones(3))
    r *= 100
    np.testing.assert_array_equal(W.get_value(), np.ones(3))
    g = symconv.function([x], [], updates=[(W, W + x)])   # in place into W's storage
    g(np.ones(3))
    np.testing.assert_array_equal(r, [100.0] * 3)


@pytest.mark.parametrize("second", [lambda v: v, lambda v: v[::-1]])
def test_two_updates_with_one_value_get_separate_buffers(second):
    A, B = symconv.shared(np.zeros(3)), symconv.shared(np.zeros(3))
    x = T.dvector("x")
    v = A + x
    symconv.function([x], [], updates=[(A, v), (B, second(v))])(np.arange(3.0))
    symconv.function([x], [], updates=[(A, A + x)])(np.ones(3))
    np.testing.assert_array_equal(A.get_value(), np.arange(3.0) + 1)
    np.testing.assert_array_equal(np.sort(B.get_value()), np.arange(3.0))


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_outputs_of_one_call_do_not_share_memory(mode):
    x = T.dvector("x")
    e = T.exp(x)
    a, b, c = symconv.function([x], [e, e[::-1], e], mode=mode)(np.zeros(3))
    a[0] = 100
    np.testing.assert_array_equal(b, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(c, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_returned_and_stored_arrays_are_owned_and_writable(mode):
    W = symconv.shared(np.ones((2, 3)))
    c = T.dscalar("c")
    g = T.grad(c * T.sum(W), W)          # a broadcast of c: a zero-stride view if returned as is
    f = symconv.function([c], g, updates=[(W, g)], mode=mode)
    out = f(2.0)
    assert out.flags.writeable and out.flags.owndata or out.base is not None
    assert 0 not in out.strides
    stored = W.get_value(borrow=True)
    assert stored.flags.writeable and 0 not in stored.strides
    out[...] = -1
    np.testing.assert_array_equal(W.get_value(), np.full((2, 3), 2.0))
    symconv.function([], [], updates=[(W, W * 3)])()       # in-place into the stored array
    np.testing.assert_array_equal(W.get_value(), np.full((2, 3), 6.0))


# ---- 7: x[:] is an index, not x itself --------------------------------------------------

def test_full_slice_is_a_subtensor_of_its_base():
    x = T.dvector("x")
    v = x[1:3]
    f = symconv.function([x], [T.inc_subtensor(v[:], 10.0), T.set_subtensor(x[:], 0), x[:]])
    inc, zeroed, same = f(np.arange(5.0))
    np.testing.assert_array_equal(inc, [11.0, 12.0])
    np.testing.assert_array_equal(zeroed, np.zeros(5))
    np.testing.assert_array_equal(same, np.arange(5.0))
    g = T.grad(T.sum(T.inc_subtensor(v[:], 10.0) ** 2), x)
    np.testing.assert_array_equal(symconv.function([x], g)(np.arange(5.0)),
                                  [0.0, 22.0, 24.0, 0.0, 0.0])


# ---- 8: a rewrite never drops a size check it cannot prove redundant ---------------------

@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_alloc_plus_mismatched_vector_raises_in_every_mode(mode):
    n, y = T.lscalar("n"), T.dvector("y")
    f = symconv.function([n, y], [T.alloc(np.float64(1.0), n) + y], mode=mode)
    with pytest.raises(ValueError):
        f(5, [2.0])
    np.testing.assert_array_equal(f(3, [1.0, 2.0, 3.0])[0], [2.0, 3.0, 4.0])


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_shape_of_a_sum_of_mismatched_operands_raises(mode):
    x, z = T.dmatrix("x"), T.dmatrix("z")
    f = symconv.function([x, z], [(x + z).shape, (x + z).shape[0]], mode=mode)
    with pytest.raises(ValueError):
        f(np.ones((1, 3)), np.ones((4, 3)))
    np.testing.assert_array_equal(f(np.ones((4, 3)), np.ones((4, 3)))[0], [4, 3])


def test_shape_read_from_operands_keeps_the_check_without_computing_the_sum():
    x, z = T.dmatrix("x"), T.dmatrix("z")
    f = symconv.function([x, z], (T.exp(x) * z).shape[0])
    names = {n.op.name for n in f.program.nodes}
    assert "same_size" in names and not names & {"exp", "mul", "fused_elemwise"}
    with pytest.raises(ValueError, match="sizes"):
        f(np.ones((2, 3)), np.ones((4, 3)))
    assert f(np.ones((4, 3)), np.ones((4, 3))) == 4


def test_assert_sizes_checks_and_passes_values_through():
    from symconv.ops.shape import assert_sizes
    x, n = T.dmatrix("x"), T.lscalar("n")
    f = symconv.function([x, n], assert_sizes(x, n, axes=(1,)) * 2)
    np.testing.assert_array_equal(f(np.ones((2, 3)), 3), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="axis 1 has size 3"):
        f(np.ones((2, 3)), 4)


# ---- 9, 10: a failing call changes nothing ---------------------------------------------

def test_read_only_shared_storage_is_updated_by_replacement_not_in_place():
    buf = np.zeros(3)
    buf.flags.writeable = False
    A = symconv.shared(buf, borrow=True)
    B = symconv.shared(np.zeros(3))
    x = T.dvector("x")
    f = symconv.function([x], [], updates=[(A, A + x), (B, B + x)])
    f(np.ones(3))
    f(np.ones(3))
    np.testing.assert_array_equal(A.get_value(), [2.0] * 3)
    np.testing.assert_array_equal(B.get_value(), [2.0] * 3)
    np.testing.assert_array_equal(buf, np.zeros(3))


def test_floating_point_error_raised_before_any_update_is_written():
    A, B = symconv.shared(np.zeros(3)), symconv.shared(np.ones(3))
    v = T.dvector("v")
    f = symconv.function([v], [], updates=[(A, A - v), (B, B * v * v)])
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        f(np.array([1.0, 1e200, 1e200]))
    np.testing.assert_array_equal(A.get_value(), np.zeros(3))
    np.testing.assert_array_equal(B.get_value(), np.ones(3))
    f(np.array([1.0, 2.0, 3.0]))     # and the in-place path still works afterwards
    np.testing.assert_array_equal(A.get_value(), [-1.0, -2.0, -3.0])
    np.testing.assert_array_equal(B.get_value(), [1.0, 4.0, 9.0])


# ---- 12: conv2d and pooling with an empty batch ------------------------------------------

@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
@pytest.mark.parametrize("border_mode,subsample,want", [
    ("valid", (1, 1), (4, 4)), ("full", (2, 2), (4, 4)), ("half", (1, 1), (6, 6)),
    ((1, 2), (2, 2), (3, 4))])
def test_conv2d_with_batch_size_zero(mode, border_mode, subsample, want):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, border_mode=border_mode, subsample=subsample)
    gx, gw = T.grad(y.sum(), [x, w])
    out, gxv, gwv = symconv.function([x, w], [y, gx, gw], mode=mode)(
        np.zeros((0, 2, 6, 6)), np.ones((3, 2, 3, 3)))
    assert out.shape == (0, 3) + want and gxv.shape == (0, 2, 6, 6)
    np.testing.assert_array_equal(gwv, np.zeros((3, 2, 3, 3)))


# ---- 13: bool tensors follow Theano's dtype rules; refusals happen at graph build --------

def test_bool_arithmetic_follows_theano():
    x = T.dvector("x")
    b, c = x > 0, x < 1
    outs = [b + c, b * c, b & c, ~b, abs(b), T.sqr(b), b ** c, b / (c | True), T.exp(b),
            T.maximum(b, c), T.nnet.sigmoid(b)]
    got = symconv.function([x], outs)(np.array([-1.0, 2.0]))
    # dtypes as real Theano 1.0.5 gives them
    assert [g.dtype.name for g in got] == ["bool", "bool", "bool", "bool", "bool", "bool",
                                           "int8", "float32", "float32", "bool", "float32"]
    np.testing.assert_array_equal(got[0], [True, True])
    np.testing.assert_array_equal(got[6], [0, 1])
    np.testing.assert_allclose(got[10], [0.5, 1 / (1 + np.exp(-1))], rtol=1e-6)


@pytest.mark.parametrize("build,name", [
    (lambda x: -(x > 0), "neg"), (lambda x: T.sgn(x > 0), "sgn"),
    (lambda x: (x > 0) - (x < 1), "sub"), (lambda x: x & x, "and_"), (lambda x: x | x, "or_"),
    (lambda x: x ^ x, "xor"), (lambda x: ~x, "invert")])
def test_theano_refusals_happen_at_graph_build_naming_op_and_line(build, name):
    x = T.dvector("x")
    with pytest.raises(TypeError, match=rf"^{name}: .*test_trust.py:\d+"):
        build(x)


def test_unsigned_negation_wraps_as_in_theano():
    x = _vec("uint8")
    got = symconv.function([x], -x)(np.array([255, 2], "uint8"))
    np.testing.assert_array_equal(got, [1, 254])
    assert got.dtype == np.uint8


# ---- 14: a fused node reports an undeclared broadcast as a plain node does ---------------

def test_fused_node_names_the_undeclared_broadcast():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symconv.function([x, y], T.exp(x) + T.tanh(y) * 2)
    assert [n.op.name for n in f.program.nodes] == ["fused_elemwise"]
    with pytest.raises(ValueError, match="input 0 has size 1 on axis 0.*broadcastable"):
        f(np.ones((1, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="shapes do not match on axis 0"):
        f(np.ones((5, 3)), np.ones((4, 3)))


# ---- 15: NumPy values on the left of a variable ------------------------------------------

def test_numpy_scalars_and_arrays_on_the_left_defer_to_the_variable():
    x = T.fvector("x")
    exprs = [np.float32(2) * x, np.array([1.0, 2.0], "float32") + x, np.int8(3) - x,
             np.float32(1) / x]
    assert all(e.dtype == "float32" for e in exprs)
    got = symconv.function([x], exprs)(np.array([1.0, 4.0], "float32"))
    np.testing.assert_array_equal(got[0], [2.0, 8.0])
    np.testing.assert_array_equal(got[1], [2.0, 6.0])
    np.testing.assert_array_equal(got[2], [2.0, -1.0])
    np.testing.assert_array_equal(got[3], [1.0, 0.25])


# ---- 16: In / Out, and pickling keeps trust_input --------------------------------------

def test_in_with_default_and_name_and_out():
    x, y = T.dscalar("x"), T.dscalar("y")
    f = symconv.function([x, symconv.In(y, value=1, name="w")], symconv.Out(x + y, borrow=True))
    assert f(33) == 34 and f(33, 2) == 35 and f(33, w=5) == 38
    with pytest.raises(TypeError, match="missing"):
        f()


def test_in_strict_refuses_conversion():
    x = T.dvector("x")
    f = symconv.function([symconv.In(x, strict=True)], x * 2)
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])
    with pytest.raises(TypeError, match="strict"):
        f([1, 2])


def test_pickling_keeps_trust_input():
    x = T.dvector("x")
    f = symconv.function([x], x + 1)
    f.trust_input = True
    g = pickle.loads(pickle.dumps(f))
    assert g.trust_input is True
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 2.0])


def test_whole_shape_read_from_operands_keeps_the_check():
    x, z, b = T.dmatrix("x"), T.dmatrix("z"), T.dvector("b")
    f = symconv.function([x, z, b], [(T.exp(x) * z).shape, T.tanh(x + b).shape])
    names = {n.op.name for n in f.program.nodes}
    assert "same_shape" in names and not names & {"exp", "tanh", "mul", "fused_elemwise"}
    with pytest.raises(ValueError, match="shape mismatch"):
        f(np.ones((2, 3)), np.ones((4, 3)), np.ones(3))
    with pytest.raises(ValueError, match="shape mismatch"):
        f(np.ones((2, 3)), np.ones((2, 3)), np.ones(4))
    got = f(np.ones((2, 3)), np.ones((2, 3)), np.ones(3))
    np.testing.assert_array_equal(got[0], [2, 3])
    np.testing.assert_array_equal(got[1], [2, 3])


@pytest.mark.parametrize("fused", [False, True])
def test_numpy_warnings_show_the_op_and_the_users_line(fused):
    import linecache
    import warnings
    x = T.dvector("x")
    y = T.log(x) * 2 if fused else T.log(x)     # the warning must name this line
    f = symconv.function([x], y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(divide="warn"):
            f(np.array([0.0, 1.0]))
    [w] = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    shown = linecache.getline(w.filename, w.lineno)
    assert "# log" in shown and "test_trust.py:" in shown
    line = int(shown.rsplit("test_trust.py:", 1)[1].split()[0])
    assert "the warning must name this line" in linecache.getline(__file__, line)
