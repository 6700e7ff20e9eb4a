"""symconv.function and shared variables: calling conventions, updates, givens, and errors."""
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import symconv
import symconv.tensor as T


def test_positional_keyword_and_output_kinds():
    x, y = T.scalar("x"), T.scalar("y")
    f = symconv.function([x, y], x - y)
    assert f(5.0, 2.0) == 3.0
    assert f(x=5.0, y=2.0) == 3.0
    assert f(5.0, y=2.0) == 3.0
    g = symconv.function([x, y], [x + y, x * y])
    assert [float(v) for v in g(2.0, 3.0)] == [5.0, 6.0]
    h = symconv.function([x, y], {"sum": x + y, "prod": x * y})
    assert {k: float(v) for k, v in h(2.0, 3.0).items()} == {"sum": 5.0, "prod": 6.0}
    assert isinstance(f(1.0, 1.0), np.ndarray) and f(1.0, 1.0).ndim == 0
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(1.0, z=2.0)
    with pytest.raises(TypeError, match="missing values for inputs"):
        f(1.0)
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        f(1.0, 2.0, 3.0)


def test_update_only_function_returns_empty_list():
    s = symconv.shared(np.float64(0.0))
    f = symconv.function([], updates=[(s, s + 1)])
    assert f() == []
    f()
    assert s.get_value() == 2.0


def test_updates_are_computed_from_old_values_before_any_write():
    a = symconv.shared(np.array(1.0), "a")
    b = symconv.shared(np.array(2.0), "b")
    swap = symconv.function([], [a + b], updates=[(a, b), (b, a)])
    out = swap()
    assert float(out[0]) == 3.0
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)
    # outputs see the old values, not the updated ones
    f = symconv.function([], a * 10, updates=OrderedDict([(a, a + 1)]))
    assert float(f()) == 20.0 and a.get_value() == 3.0


def test_plain_dict_updates_with_several_items_warn():
    a, b = symconv.shared(0.0), symconv.shared(0.0)
    with pytest.warns(UserWarning, match="OrderedDict"):
        symconv.function([], updates={a: a + 1, b: b + 1})


def test_update_type_mismatch_names_the_variable_and_suggests_cast():
    W = symconv.shared(np.zeros(3, "float32"), "W")
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"W is TensorType\(float32.*T.cast\(update, 'float32'\)"):
        symconv.function([x], updates=[(W, W + x)])
    with pytest.raises(TypeError, match="only target shared variables"):
        symconv.function([x], updates=[(x, x + 1)])
    with pytest.raises(ValueError, match="two updates"):
        symconv.function([], updates=[(W, W), (W, W)])


def test_failing_call_leaves_shared_variables_untouched():
    W = symconv.shared(np.ones((2, 3)), "W")
    c = symconv.shared(np.array(0.0), "count")
    x = T.matrix("x")
    cost = T.sum(T.dot(x, W))
    f = symconv.function([x], cost, updates=[(c, c + 1), (W, W - 0.1 * T.grad(cost, W))])
    before = W.get_value()
    with pytest.raises(ValueError):
        f(np.ones((4, 5)))   # shape mismatch inside dot, after the count update is computed
    np.testing.assert_array_equal(W.get_value(), before)
    assert c.get_value() == 0.0
    with pytest.raises(TypeError):
        f(np.ones(4))        # wrong ndim: refused before anything runs
    assert c.get_value() == 0.0
    f(np.ones((4, 2)))
    assert c.get_value() == 1.0


def test_op_errors_name_the_op_shapes_and_user_line():
    x, y = T.matrix("x"), T.matrix("y")
    f = symconv.function([x, y], T.dot(x, y))
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 5)))
    text = str(info.value)
    assert "Apply node that caused the error: dot" in text
    assert "(2, 3) float64, (4, 5) float64" in text
    assert "test_function.py" in text


def test_input_validation_messages():
    x = T.fmatrix("x")
    f = symconv.function([x], x * 2)
    with pytest.raises(TypeError, match=r'Bad input argument with name "x" .* index 0 .*'
                                         r'expected 2 dimensions'):
        f(np.ones(3, "float32"))
    with pytest.raises(TypeError, match="without loss of precision.*allow_input_downcast"):
        f(np.ones((2, 2)))   # float64 -> float32 loses precision
    g = symconv.function([x], x * 2, allow_input_downcast=True)
    assert g(np.ones((2, 2))).dtype == np.float32
    v = T.ivector("v")
    h = symconv.function([v], v + 1)
    np.testing.assert_array_equal(h([1, 2, 3]), [2, 3, 4])   # exact ints from a list: fine
    with pytest.raises(TypeError, match="cannot store"):
        h([1.5, 2.0])
    r = T.row("r")
    k = symconv.function([r], r + 1)
    with pytest.raises(TypeError, match="axis 0 must be broadcastable"):
        k(np.ones((2, 3)))


def test_python_float_goes_to_floatx_scalar_input():
    with symconv.config.change_flags(floatX="float32"):
        lr = T.scalar("lr")
        f = symconv.function([lr], lr * 2)
        assert f(0.1).dtype == np.float32
    d = T.dscalar("d")
    assert symconv.function([d], d)(np.float32(0.5)) == 0.5   # safe upcast


def test_givens_minibatch_slices_of_shared_data():
    data = np.arange(20.0).reshape(10, 2)
    data_x = symconv.shared(data, "data_x")
    labels = symconv.shared(np.arange(10.0), "labels")
    x, y = T.matrix("x"), T.ivector("y")
    index = T.lscalar("index")
    bs = 3
    y_int = T.cast(labels, "int32")
    f = symconv.function([index], [x.sum(), y.sum()],
                         givens={x: data_x[index * bs:(index + 1) * bs],
                                 y: y_int[index * bs:(index + 1) * bs]})
    got = f(1)
    assert float(got[0]) == data[3:6].sum() and int(got[1]) == 3 + 4 + 5
    with pytest.raises(TypeError, match="cannot be replaced"):
        symconv.function([index], x.sum(), givens={x: T.ivector()})


def test_unused_and_missing_inputs():
    x, y = T.scalar("x"), T.scalar("y")
    with pytest.raises(symconv.UnusedInputError, match="input 1 \\(y\\)"):
        symconv.function([x, y], x * 2)
    with pytest.warns(UserWarning):
        symconv.function([x, y], x * 2, on_unused_input="warn")
    assert symconv.function([x, y], x * 2, on_unused_input="ignore")(1.0, 5.0) == 2.0
    with pytest.raises(symconv.MissingInputError, match="y .*not among the function's inputs"):
        symconv.function([x], x * y)
    with pytest.raises(TypeError, match="shared variable"):
        symconv.function([symconv.shared(1.0)], x)


def test_outputs_never_alias_shared_storage():
    W = symconv.shared(np.zeros(3), "W")
    f = symconv.function([], [W, W.T])
    out = f()
    out[0][:] = 5
    out[1][:] = 6
    np.testing.assert_array_equal(W.get_value(), np.zeros(3))


def test_shared_get_set_value_borrow_and_type_checks():
    value = np.arange(3.0)
    s = symconv.shared(value, "s")
    value[0] = 100
    assert s.get_value()[0] == 0.0            # copied at creation
    got = s.get_value()
    got[1] = 50
    assert s.get_value()[1] == 1.0            # get_value copies
    assert s.get_value(borrow=True) is s.get_value(borrow=True)
    s.set_value(np.ones(5))                   # shapes may change: not broadcastable
    assert s.get_value().shape == (5,)
    with pytest.raises(TypeError, match="set_value of shared variable s"):
        s.set_value(np.ones((2, 2)))
    f32 = symconv.shared(np.zeros(2, "float32"), "f32")
    with pytest.raises(TypeError, match="loss of precision"):
        f32.set_value(np.ones(2))
    assert symconv.shared(np.zeros((1, 3))).broadcastable == (False, False)
    assert symconv.shared(np.zeros((1, 3)), broadcastable=(True, False)).broadcastable == \
        (True, False)


def test_eval_and_variable_properties():
    x = T.matrix("x")
    y = (x * 2).sum(axis=0)
    assert y.ndim == 1 and y.dtype == "float64" and y.type.broadcastable == (False,)
    np.testing.assert_allclose(y.eval({x: np.ones((2, 3))}), [4, 4, 4])
    assert (T.constant(np.ones(3)) * 2).eval().tolist() == [2, 2, 2]
    # truthiness as in Theano: variables are truthy (``if not input:`` in rbm.py), the result
    # of a comparison is not (a < b < c would silently mean b < c)
    assert bool(x) and bool(y) and not (not x)
    with pytest.raises(TypeError, match="no truth value"):
        bool(x < 1)
    with pytest.raises(TypeError, match="no truth value"):
        0 < x < 1


def test_pickled_graph_and_shared_recompile_after_unpickling():
    W = symconv.shared(np.arange(6.0).reshape(3, 2), "W")
    x = T.matrix("x")
    pred = T.argmax(T.nnet.softmax(T.dot(x, W)), axis=1)
    model = {"W": W, "x": x, "pred": pred}
    restored = pickle.loads(pickle.dumps(model))
    f = symconv.function([restored["x"]], restored["pred"])
    xv = np.array([[1.0, 0, 0], [0, 0, -1]])
    np.testing.assert_array_equal(f(xv), np.argmax(xv @ W.get_value(), axis=1))
    restored["W"].set_value(np.zeros((3, 2)))
    assert W.get_value().sum() == 15.0        # the original is independent


def test_compiled_function_pickles():
    s = symconv.shared(np.array(1.0), "s")
    x = T.scalar("x")
    f = symconv.function([x], x + s, updates=[(s, s * 2)])
    g = pickle.loads(pickle.dumps(f))
    assert float(g(1.0)) == 2.0


def test_debugmode_and_modes():
    x = T.vector("x")
    for mode in ("FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode"):
        np.testing.assert_allclose(symconv.function([x], T.exp(x), mode=mode)(np.zeros(2)), 1)
    with pytest.raises(ValueError, match="unknown mode"):
        symconv.function([x], x, mode="FAST_WALK")
    with pytest.raises(FloatingPointError, match=r"NanGuardMode: log produced NaN.*input shapes "
                                                 r"\[\(1,\)\].*test_function.py"):
        symconv.function([x], T.log(x), mode="NanGuardMode")(np.array([-1.0]))


def test_profile_summary_lists_nodes():
    x = T.matrix("x")
    f = symconv.function([x], T.tanh(T.dot(x, x.T)).sum(), profile=True)
    f(np.ones((3, 3)))
    text = f.profile.summary()
    assert "dot" in text and "tanh" in text and "1 calls" in text


def test_no_warning_for_ordered_or_single_updates():
    s = symconv.shared(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        symconv.function([], updates={s: s + 1})
