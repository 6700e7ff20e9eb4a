"""The API added for Theano's long tail: gradients by finite differences (float64), kernels
against NumPy, and the errors. Values against Theano itself are in test_theano_api.py."""
from __future__ import annotations

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from util import check_grad, run

RNG = np.random.default_rng(3)


def _u(*shape, lo=-0.9, hi=0.9):
    return RNG.uniform(lo, hi, shape)


@pytest.mark.parametrize("name, lo, hi, ref", [
    ("tan", -1, 1, np.tan), ("arcsin", -0.9, 0.9, np.arcsin), ("arccos", -0.9, 0.9, np.arccos),
    ("arctan", -3, 3, np.arctan), ("sinh", -2, 2, np.sinh), ("cosh", -2, 2, np.cosh),
    ("arcsinh", -3, 3, np.arcsinh), ("arccosh", 1.5, 4, np.arccosh),
    ("arctanh", -0.9, 0.9, np.arctanh), ("exp2", -2, 2, np.exp2),
    ("deg2rad", -90, 90, np.deg2rad), ("rad2deg", -2, 2, np.rad2deg)])
def test_unary_functions_values_and_gradients(name, lo, hi, ref):
    fn = getattr(T, name)
    xv = _u(3, 4, lo=lo, hi=hi)
    x = T.dmatrix("x")
    np.testing.assert_allclose(run([x], fn(x), [xv]), ref(xv), rtol=1e-12)
    check_grad(fn, [xv])


def test_arctan2_isnan_isinf():
    y, x = _u(5), _u(5) + 2
    check_grad(T.arctan2, [y, x])
    v = T.dvector("v")
    got = run([v], [T.isnan(v), T.isinf(v)], [np.array([np.nan, np.inf, 1.0])])
    assert got[0].tolist() == [True, False, False] and got[1].tolist() == [False, True, False]


def test_tensordot_and_batched_dot_against_numpy_and_fd():
    a, b, c = _u(2, 3, 4), _u(2, 4, 5), _u(3, 4)
    ta, tb, tc = T.dtensor3("a"), T.dtensor3("b"), T.dmatrix("c")
    got = run([ta, tb, tc], [T.tensordot(ta, tc, [[1, 2], [0, 1]]), T.batched_dot(ta, tb),
                             T.tensordot(ta, tb, [[2], [1]]), T.dot(ta, tc.T)], [a, b, c])
    np.testing.assert_allclose(got[0], np.tensordot(a, c, [[1, 2], [0, 1]]))
    np.testing.assert_allclose(got[1], np.einsum("bij,bjk->bik", a, b))
    np.testing.assert_allclose(got[2], np.tensordot(a, b, [[2], [1]]))
    np.testing.assert_allclose(got[3], np.dot(a, c.T))
    check_grad(lambda p, q: T.tensordot(p, q, [[1, 2], [0, 1]]), [a, c])
    check_grad(T.batched_dot, [a, b])
    check_grad(lambda p, q: T.batched_tensordot(p, q, [[2], [1]]), [a, b])


def test_cumulative_ops_and_repeat_gradients():
    m = _u(3, 4)
    check_grad(lambda x: T.cumsum(x, axis=1), [m])
    check_grad(lambda x: T.cumsum(x), [m])
    check_grad(lambda x: T.cumprod(x, axis=0), [m + 2])
    check_grad(lambda x: T.cumprod(x), [m + 2])
    check_grad(lambda x: T.repeat(x, [1, 0, 3], axis=0), [m])
    check_grad(lambda x: T.extra_ops.diff(x, n=2, axis=1), [m])
    x = T.dmatrix("x")
    got = run([x], [T.cumprod(x, axis=1), T.repeat(x, 2, axis=1), T.repeat(x, [2, 0, 1], 0)],
              [m])
    np.testing.assert_allclose(got[0], np.cumprod(m, axis=1))
    np.testing.assert_array_equal(got[1], np.repeat(m, 2, axis=1))
    np.testing.assert_array_equal(got[2], np.repeat(m, [2, 0, 1], axis=0))


def test_tile_sort_tri_choose_gradients():
    m = _u(2, 3)
    check_grad(lambda x: T.tile(x, (2, 3)), [m])
    check_grad(lambda x: T.sort(x, axis=1), [m])
    check_grad(lambda x: T.sort(x, axis=None), [m])
    check_grad(lambda x: T.tril(x, 1) + T.triu(x, 1), [m])
    check_grad(lambda x, y: T.choose(T.as_tensor(np.array([[0, 1, 1], [1, 0, 0]])), [x, y]),
               [m, _u(2, 3)])
    check_grad(lambda x: T.cov(x), [_u(3, 6)])
    check_grad(lambda x: T.ptp(x, axis=0), [m])
    check_grad(lambda x: T.stacklists([[x[0, 0], x[1, 2]], [x[0, 1], x[1, 1]]]), [m])


def test_boolean_mask_index_value_and_gradient():
    m = _u(4, 3)
    x = T.dmatrix("x")
    got = run([x], [x[x > 0], x[T.gt(x.sum(axis=1), 0)]], [m])
    np.testing.assert_array_equal(got[0], m[m > 0])
    np.testing.assert_array_equal(got[1], m[m.sum(axis=1) > 0])
    check_grad(lambda v: (v[v > 0] ** 2), [m])
    np.testing.assert_array_equal(x[np.array([True, False, True, False])].eval({x: m}),
                                  m[[0, 2]])


def test_rop_lop_against_jacobian():
    w, v, xv = _u(3, 2), _u(3, 2), _u(3)
    W, V, x = T.dmatrix("W"), T.dmatrix("V"), T.dvector("x")
    y = T.tanh(T.dot(x, W))
    jac = T.grad(None, W, known_grads={y: T.ones_like(y)})   # only to check Rop by hand
    assert jac.ndim == 2
    got = symconv.function([W, V, x], T.Rop(y, W, V))(w, v, xv)
    d = 1 - np.tanh(xv @ w) ** 2
    np.testing.assert_allclose(got, d * (xv @ v))
    u = T.dvector("u")
    got = symconv.function([W, u, x], T.Lop(y, W, u))(w, np.array([1.0, 2.0]), xv)
    np.testing.assert_allclose(got, np.outer(xv, d * [1.0, 2.0]))


def test_jacobian_of_a_vector_of_unknown_length_and_hessian():
    # gradient.jacobian builds one jacobian_rows op per wrt: a compiled vector-Jacobian product
    # per row; T.repeat's index is a repeat_index op (tested in test_cumulative_ops...)
    x = T.dvector("x")
    J = symconv.gradient.jacobian(T.exp(x) * x.sum(), x)
    xv = np.array([0.5, -1.0, 2.0])
    want = np.diag(np.exp(xv) * xv.sum()) + np.exp(xv)[:, None]
    np.testing.assert_allclose(J.eval({x: xv}), want)
    H = symconv.gradient.hessian((x ** 2).sum() * x[0], x)
    h = 2 * np.eye(3) * xv[0]
    h[0, :] += 2 * xv
    h[:, 0] += 2 * xv
    np.testing.assert_allclose(H.eval({x: xv}), h)
    assert symconv.gradient.jacobian(x ** 2, x).eval({x: np.zeros(0)}).shape == (0, 0)


def test_consider_constant_keeps_the_input_connected():
    x = T.dscalar("x")
    y = symconv.gradient.consider_constant(x * x) * x
    assert float(T.grad(y, x).eval({x: 3.0})) == 9.0
    assert float(T.grad(T.consider_constant(x) * 2, x).eval({x: 1.0})) == 0.0


def test_log_sum_exp_rewrite_is_stable_in_value_and_gradient():
    a, b = T.dvectors("a", "b")
    e = T.log(T.exp(a) + T.exp(b) + T.exp(2 * a))
    av, bv = np.array([400.0, -400.0, 0.3]), np.array([400.0, -401.0, -0.2])
    got = symconv.function([a, b], [e] + T.grad(e.sum(), [a, b]))(av, bv)
    terms = np.stack([av, bv, 2 * av])
    m = terms.max(axis=0)
    np.testing.assert_allclose(got[0], m + np.log(np.exp(terms - m).sum(axis=0)))
    p = np.exp(terms - got[0])
    np.testing.assert_allclose(got[1], p[0] + 2 * p[2])
    np.testing.assert_allclose(got[2], p[1])


def test_specify_shape_checks_the_value():
    m = T.dmatrix("m")
    s = T.specify_shape(m, (2, 3))
    assert s.type.shape == (2, 3)
    f = symconv.function([m], s * 2)
    with pytest.raises(ValueError, match="specify_shape"):
        f(np.ones((3, 3)))


def test_unpacking_needs_a_static_length():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="iterated"):
        a, b = x
    m = T.dmatrix("m")
    rows, cols = m.shape
    assert int(cols.eval({m: np.zeros((2, 7))})) == 7


def test_print_prints_each_call(capsys):
    x = T.dvector("x")
    f = symconv.function([x], symconv.printing.Print("x is", attrs=("shape",))(x) * 2)
    f(np.ones(3))
    f(np.ones(4))
    out = capsys.readouterr().out
    assert "x is shape = (3,)" in out and "x is shape = (4,)" in out


def test_bincount_nonzero_argsort_inverse_permutation_against_numpy():
    iv = np.array([3, 0, 3, 1, 5], "int64")
    i, w = T.lvector("i"), T.dvector("w")
    got = run([i, w], [T.bincount(i), T.bincount(i, w, minlength=8), T.argsort(i),
                       T.inverse_permutation(T.argsort(i))], [iv, np.arange(5.0)])
    np.testing.assert_array_equal(got[0], np.bincount(iv))
    np.testing.assert_array_equal(got[1], np.bincount(iv, np.arange(5.0), minlength=8))
    np.testing.assert_array_equal(got[2], np.argsort(iv, kind="stable"))
    np.testing.assert_array_equal(got[3], np.argsort(np.argsort(iv, kind="stable")))
    m = T.dmatrix("m")
    mv = np.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(T.nonzero(m, return_matrix=True).eval({m: mv}),
                                  np.stack(np.nonzero(mv)))


def test_function_copy_refuses_a_swap_of_another_type():
    a, b = symconv.shared(np.zeros(2)), symconv.shared(np.zeros(3, "int64"))
    f = symconv.function([], a * 2)
    with pytest.raises(TypeError, match="types differ"):
        f.copy(swap={a: b})
    c = symconv.shared(np.ones(2))
    copied = f.copy(swap={a: c})()
    assert isinstance(copied, list)   # as Theano: a copy returns a list of one output
    np.testing.assert_array_equal(copied[0], [2.0, 2.0])


def test_function_copy_swaps_under_out_wrappers():
    a, c = symconv.shared(np.ones(2)), symconv.shared(np.full(2, 3.0))
    f = symconv.function([], [symconv.Out(a * 2, borrow=True)])
    np.testing.assert_array_equal(f.copy(swap={a: c})()[0], [6.0, 6.0])


def test_test_values_warn_mode_and_tag_annotations():
    x = T.dvector("x")
    x.tag.note = "kept"
    assert x.tag.note == "kept" and not hasattr(T.dvector().tag, "note")
    with symconv.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="no test value"):
            y = x * 2
        assert not hasattr(y.tag, "test_value")
        x.tag.test_value = np.array([1.0, 2.0])
        np.testing.assert_array_equal((x * 2).tag.test_value, [2.0, 4.0])
    assert not hasattr((x * 3).tag, "test_value")   # off again: nothing is computed


def test_matrix_inverse_det_solve_against_numpy_and_fd():
    a = np.array([[2.0, 0.5, 0.1], [0.3, 3.0, -0.2], [0.1, 0.4, 1.5]])
    b, v = _u(3, 2), _u(3)
    A, B_, V = T.dmatrix("A"), T.dmatrix("B"), T.dvector("V")
    nl, sl = T.nlinalg, T.slinalg
    got = run([A, B_, V], [nl.matrix_inverse(A), nl.det(A), sl.solve(A, B_), sl.solve(A, V)],
              [a, b, v])
    np.testing.assert_allclose(got[0], np.linalg.inv(a))
    np.testing.assert_allclose(got[1], np.linalg.det(a))
    np.testing.assert_allclose(got[2], np.linalg.solve(a, b))
    np.testing.assert_allclose(got[3], np.linalg.solve(a, v))
    check_grad(nl.matrix_inverse, [a])
    check_grad(nl.det, [a])
    check_grad(sl.solve, [a, b])
    check_grad(sl.solve, [a, v])
    with pytest.raises(TypeError, match="square"):
        nl.det(T.TensorType("float64", shape=(2, 3))())


def test_maker_fgraph_is_a_view_of_the_compiled_graph():
    x = T.dvector("x")
    w = symconv.shared(np.ones(3), name="w")
    f = symconv.function([x], T.exp(x).sum(), updates=[(w, w + x)])
    fgraph = f.maker.fgraph
    names = [node.op.name for node in fgraph.toposort()]
    assert "exp" in names and "add" in names
    assert fgraph.inputs == [x, w] and len(fgraph.outputs) == 2
    assert f.maker.inputs == [x] and fgraph.apply_nodes == set(fgraph.toposort())


def test_logistic_rewrites_leave_shape_setting_constants_alone():
    import warnings
    t = T.dvector("t")
    ones = np.ones((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a rejected rewrite would warn
        f = symconv.function([t], [ones / (1 + T.exp(t)), T.log(ones + t)])
    got = f(np.array([0.5, -0.5]))
    np.testing.assert_allclose(got[0], ones / (1 + np.exp([0.5, -0.5])))
    np.testing.assert_allclose(got[1], np.log(ones + [0.5, -0.5]))
