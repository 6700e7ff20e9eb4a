"""symconv.sparse: every op against a dense NumPy reference, every gradient against finite
differences in float64 (sparse values enter through ``CSR``/``CSC`` of a dense data vector, so
verify_grad perturbs exactly the stored entries), and the CPU-only rule.

Theano's own values for the same programs are compared in tests/test_theano_api_more.py.
"""
from __future__ import annotations

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse", reason="symconv.sparse needs SciPy "
                         "(pip install 'symconv[sparse]')")

import symconv  # noqa: E402
import symconv.tensor as T  # noqa: E402
from symconv import sparse  # noqa: E402
from symconv.backends.base import OVERRIDES  # noqa: E402
from symconv.sparse import basic  # noqa: E402
from tests.util import check_grad, run  # noqa: E402

DENSE = np.array([[0, 2.5, 0, -1], [3, 0, 0, 0], [0, 0, 0, 0], [0, -4, 1.5, 2]])


def _pattern(fmt: str, dense: np.ndarray = DENSE) -> tuple:
    m = sp.csr_matrix(dense).asformat(fmt)
    return m.data.copy(), T.constant(m.indices), T.constant(m.indptr), T.constant(
        np.array(m.shape, dtype="int32"))


def _from_data(fmt: str, dense: np.ndarray = DENSE):
    """(data point, builder): builder(data variable) is the sparse matrix with DENSE's
    pattern and those stored values."""
    data, indices, indptr, shape = _pattern(fmt, dense)
    return data, lambda d: basic.csm(d, indices, indptr, shape, format=fmt)


def _w(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=shape)


# ---- values against NumPy ---------------------------------------------------------------

def test_every_op_against_dense_numpy():
    x, y = sparse.csr_matrix("x", dtype="float64"), sparse.csc_matrix("y", dtype="float64")
    d, v = T.dmatrix("d"), T.dvector("v")
    b = _w(4, 4, seed=1) * (np.abs(_w(4, 4, seed=2)) > 0.4)
    outs = {
        "dense": sparse.dense_from_sparse(x), "T": x.T, "neg": -x, "add_ss": x + y,
        "sub_ss": x - y, "mul_ss": x * y, "add_sd": x + d, "mul_sd": x * d, "mul_row": x * v,
        "dot_sd": sparse.dot(x, d), "dot_ds": sparse.dot(d, y), "dot_ss": sparse.dot(x, y),
        "sdot": sparse.structured_dot(x, d), "sum": sparse.sp_sum(x),
        "sum0": sparse.sp_sum(x, axis=0), "sum1": x.sum(axis=1),
        "exp": sparse.structured_exp(x), "sqr": sparse.sqr(x),
        "csc": sparse.csc_from_dense(d), "csr": sparse.csr_from_dense(d),
        "cast": sparse.cast(x, "float32"), "ones": basic.sp_ones_like(x),
        "zeros": x.zeros_like(), "data": sparse.csm_data(x), "shape": sparse.csm_shape(x),
    }
    dv, vv = _w(4, 4, seed=3), _w(4, seed=4)
    got = dict(zip(outs, run([x, y, d, v], list(outs.values()),
                             [sp.csr_matrix(DENSE), sp.csc_matrix(b), dv, vv])))
    a = DENSE
    want = {"dense": a, "T": a.T, "neg": -a, "add_ss": a + b, "sub_ss": a - b, "mul_ss": a * b,
            "add_sd": a + dv, "mul_sd": a * dv, "mul_row": a * vv, "dot_sd": a @ dv,
            "dot_ds": dv @ b, "dot_ss": a @ b, "sdot": a @ dv, "sum": a.sum(),
            "sum0": a.sum(0), "sum1": a.sum(1), "exp": np.where(a != 0, np.exp(a), 0),
            "sqr": a * a, "csc": dv, "csr": dv, "cast": a.astype("float32"),
            "ones": (a != 0).astype(float), "zeros": 0 * a, "data": sp.csr_matrix(a).data,
            "shape": np.array([4, 4])}
    formats = {"T": "csc", "neg": "csr", "add_ss": "csr", "mul_ss": "csr", "mul_sd": "csr",
               "exp": "csr", "csc": "csc", "csr": "csr", "cast": "csr", "zeros": "csr"}
    for key, value in got.items():
        if key in formats:
            assert sp.issparse(value) and value.format == formats[key], key
        dense = value.toarray() if sp.issparse(value) else value
        np.testing.assert_allclose(dense, want[key], rtol=1e-6, err_msg=key)
    assert got["cast"].dtype == np.float32
    assert got["dense"].dtype == np.float64 and isinstance(got["dense"], np.ndarray)


def test_properties_and_construction_roundtrip():
    x = sparse.csc_matrix("x", dtype="float64")
    data, indices, indptr, shape = sparse.csm_properties(x)
    assert (data.type.dtype, indices.type.dtype, shape.type.shape) == ("float64", "int32", (2,))
    f = symconv.function([x], [sparse.CSC(data * 2, indices, indptr, shape), x.shape])
    a = sp.csc_matrix(DENSE)
    twice, size = f(a)
    np.testing.assert_array_equal(twice.toarray(), 2 * DENSE)
    np.testing.assert_array_equal(size, [4, 4])


# ---- gradients against finite differences (float64) -------------------------------------

@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_structured_dot_and_dot_gradients(fmt):
    data, make = _from_data(fmt)
    check_grad(lambda d, w: T.tanh(sparse.structured_dot(make(d), w)).sum(), [data, _w(4, 3)])
    check_grad(lambda d, w: (sparse.dot(make(d), w) ** 2).sum(), [data, _w(4, 2)])
    check_grad(lambda d, w: (sparse.dot(w, make(d)) ** 2).sum(), [data, _w(3, 4)])
    check_grad(lambda d: (sparse.dot(make(d), make(d).T) ** 2).sum(), [data])


def test_elementwise_gradients():
    data, make = _from_data("csr")
    other, make_other = _from_data("csr", DENSE.T)
    check_grad(lambda d, w: (sparse.dense_from_sparse(make(d) * w) ** 2).sum(),
               [data, _w(4, 4)])
    check_grad(lambda d, v: sparse.sp_sum(make(d) * v, axis=0).sum(), [data, _w(4)])
    check_grad(lambda d, e: (sparse.dense_from_sparse(make(d) * make_other(e)
                                                      + make(d) - make_other(e)) ** 2).sum(),
               [data, other])
    check_grad(lambda d, w: (T.sin(make(d) + w)).sum(), [data, _w(4, 4)])
    check_grad(lambda d: (sparse.dense_from_sparse(-make(d).T) ** 3).sum(), [data])
    check_grad(lambda d: sparse.sp_sum(sparse.structured_sigmoid(make(d)), sparse_grad=True),
               [data])
    check_grad(lambda d: T.tanh(sparse.sp_sum(sparse.structured_exp(make(d)), axis=1)).sum(),
               [data])


def test_cast_gradient_comes_back_in_the_input_dtype():
    # (float32 values defeat finite differences at float64's step; checked by value instead)
    x = sparse.csr_matrix("x", dtype="float64")
    g = T.grad(sparse.sp_sum(sparse.cast(x, "float32") * 3.0, sparse_grad=True), x)
    value = symconv.function([x], g)(sp.csr_matrix(DENSE))
    assert value.dtype == np.float64 and value.format == "csr"
    np.testing.assert_array_equal(value.toarray(), 3.0 * (DENSE != 0))


def test_dense_to_sparse_gradients():
    check_grad(lambda w: (sparse.dense_from_sparse(sparse.csc_from_dense(w) * w) ** 2).sum(),
               [_w(3, 4)])
    check_grad(lambda w: T.tanh(sparse.structured_dot(sparse.csr_from_dense(w), w.T)).sum(),
               [_w(3, 4)])
    data, indices, indptr, shape = _pattern("csc")
    check_grad(lambda w: (basic.gather(w, indices, indptr, shape, format="csc") ** 2).sum(),
               [_w(4, 4)])


def test_structured_gradients_stay_on_the_pattern():
    x, w = sparse.csr_matrix("x", dtype="float64"), T.dmatrix("w")
    g = T.grad((sparse.dense_from_sparse(x) * w).sum(), x)
    h = T.grad(sparse.structured_dot(x, w).sum(), x)
    gv, hv = symconv.function([x, w], [g, h])(sp.csr_matrix(DENSE), _w(4, 4))
    for value in (gv, hv):
        assert value.format == "csr" and value.nnz == sp.csr_matrix(DENSE).nnz


# ---- inputs, shared values and the CPU-only rule -------------------------------------------

def test_inputs_are_checked_and_converted_as_theano():
    x = sparse.csr_matrix("x", dtype="float32")
    f = symconv.function([x], sparse.dense_from_sparse(x))
    np.testing.assert_array_equal(f(sp.csc_matrix(DENSE.astype("float32"))), DENSE)
    with pytest.raises(TypeError, match="without loss of precision"):
        f(sp.csr_matrix(DENSE))
    with pytest.raises(TypeError, match="dense 2-d array"):
        f(np.ones(3, dtype="float32"))
    with pytest.raises(TypeError, match="must be a sparse matrix"):
        sparse.dense_from_sparse(T.dmatrix())
    with pytest.raises(TypeError, match="not a sparse matrix"):
        sparse.as_sparse_variable(T.dmatrix("m"))


def test_shared_sparse_and_constants():
    s = symconv.shared(sp.csc_matrix(DENSE), name="s")
    assert isinstance(s.type, sparse.SparseType) and s.type.format == "csc"
    c = sparse.as_sparse_variable(sp.csr_matrix(np.eye(4)))
    f = symconv.function([], sparse.dense_from_sparse(s + c), updates=[(s, s * 2.0)])
    np.testing.assert_array_equal(f(), DENSE + np.eye(4))
    np.testing.assert_array_equal(s.get_value().toarray(), 2 * DENSE)
    s.set_value(sp.csr_matrix(np.ones((2, 2))))   # converted to the variable's format
    assert s.get_value().format == "csc"
    np.testing.assert_array_equal(s.get_value().toarray(), np.ones((2, 2)))


def test_sparse_ops_refuse_the_cuda_backend_by_name():
    x = sparse.csr_matrix("x")
    node = sparse.structured_dot(x, T.matrix("w")).owner
    lowering = OVERRIDES["cuda"][node.op]
    with pytest.raises(NotImplementedError, match="structured_dot .* runs on the CPU only"):
        lowering(None, node)
    for op in (node.op, basic.csm, basic.dense_from_sparse, basic.mul_s_d):
        assert op in OVERRIDES["cuda"] and op.foldable is False and op.elemwise is None


def test_sparse_graph_with_constants_is_not_folded():
    c = sparse.as_sparse_variable(sp.csr_matrix(DENSE))
    f = symconv.function([], sparse.sp_sum(c * 2.0, axis=0))
    np.testing.assert_allclose(f(), 2 * DENSE.sum(0))
    assert any(n.op.name.startswith("sparse_") for n in f.maker.fgraph.toposort())


def test_outputs_built_from_one_data_vector_stay_independent():
    # csm must own its arrays: the executor reuses dead buffers of elementwise results, and a
    # returned matrix that kept such a buffer would change under the caller
    x = sparse.csr_matrix("x", dtype="float64")
    names = ("sin", "tanh", "expm1", "arcsinh", "sqr", "arctan", "sinh", "floor")
    outs = symconv.function([x], [getattr(sparse, n)(x) for n in names])(sp.csr_matrix(DENSE))
    for name, value in zip(names, outs):
        fn = np.square if name == "sqr" else getattr(np, name)
        np.testing.assert_allclose(value.toarray(), np.where(DENSE != 0, fn(DENSE), 0),
                                   err_msg=name)


def test_stacking_scaling_and_sparse_products_gradients():
    data, make = _from_data("csr")
    other, make_other = _from_data("csc", DENSE.T)
    check_grad(lambda d, e: (sparse.dense_from_sparse(sparse.hstack([make(d), make_other(e)]))
                             ** 2).sum(), [data, other])
    check_grad(lambda d, e: sparse.sp_sum(sparse.sqr(sparse.vstack([make(d), make_other(e)])),
                                          sparse_grad=True), [data, other])
    check_grad(lambda d, v: (sparse.dense_from_sparse(sparse.col_scale(make(d), v)
                                                      * sparse.row_scale(make(d), v)) ** 2
                             ).sum(), [data, _w(4)])
    check_grad(lambda d, e: sparse.sp_sum(sparse.sqr(sparse.structured_dot(make(d),
                                                                          make_other(e))),
                                          sparse_grad=True), [data, other])


def test_outputs_never_alias_the_callers_input():
    x = sparse.csr_matrix("x", dtype="float64")
    a = sp.csr_matrix(DENSE)
    data, t, same = symconv.function([x], [sparse.csm_data(x), x.T, x])(a)
    for buffer in (data, t.data, same.data):
        assert not np.shares_memory(buffer, a.data)
    np.testing.assert_array_equal(t.toarray(), DENSE.T)


def test_indexing_against_scipy_and_its_limits():
    x, i = sparse.csc_matrix("x", dtype="float64"), T.lscalar("i")
    a = sp.csc_matrix(DENSE)
    got = symconv.function([x, i], [x[i, 1], x[1:, i:], x[:i]])(a, 1)
    assert got[0] == DENSE[1, 1] and got[0].dtype == np.float64
    np.testing.assert_array_equal(got[1].toarray(), DENSE[1:, 1:])
    assert got[1].format == "csc"
    np.testing.assert_array_equal(got[2].toarray(), DENSE[:1])
    with pytest.raises(NotImplementedError, match="x\\[i, j\\], x\\[a:b, c:d\\]"):
        x[[0, 1]]
    with pytest.raises(NotImplementedError, match="not \\('int', 'slice'\\)"):
        x[1, 1:]


def test_comparisons_against_numpy():
    x, y, d = sparse.csr_matrix("x"), sparse.csr_matrix("y"), T.matrix("d")
    b = _w(4, 4, seed=9) * (np.abs(_w(4, 4, seed=10)) > 0.5)
    got = symconv.function([x, y, d], [x < y, sparse.neq(x, y), x >= d, sparse.lt(d, x)])(
        sp.csr_matrix(DENSE), sp.csr_matrix(b), b)
    want = [DENSE < b, DENSE != b, DENSE >= b, b < DENSE]
    for g, w in zip(got, want):
        g = g.toarray() if sp.issparse(g) else g
        assert g.dtype == np.uint8
        np.testing.assert_array_equal(g, w.astype(np.uint8))
    with pytest.raises(NotImplementedError, match="one format"):
        sparse.eq(x, sparse.csc_matrix("z"))


@pytest.mark.parametrize("mode", ["NanGuardMode", "DebugMode", "FAST_COMPILE"])
def test_sparse_graphs_run_in_every_mode(mode):
    x = sparse.csr_matrix("x", dtype="float64")
    f = symconv.function([x], [sparse.structured_exp(x), sparse.sp_sum(x, axis=0)], mode=mode)
    value, total = f(sp.csr_matrix(DENSE))
    np.testing.assert_allclose(value.toarray(), np.where(DENSE != 0, np.exp(DENSE), 0))
    np.testing.assert_allclose(total, DENSE.sum(0))


def test_nan_guard_looks_inside_sparse_results():
    # the sparse product is the first node to make an Inf (its inputs are not checked)
    x, d = sparse.csr_matrix("x", dtype="float64"), T.dmatrix("d")
    f = symconv.function([x, d], x * d, mode="NanGuardMode")
    with pytest.raises(FloatingPointError, match="NanGuardMode: sparse_mul_s_d produced Inf"):
        f(sp.csr_matrix(DENSE), np.full((4, 4), np.inf))


def test_test_values_flow_through_sparse_ops():
    with symconv.change_flags(compute_test_value="raise"):
        x, w = sparse.csr_matrix("x", dtype="float64"), T.dmatrix("w")
        x.tag.test_value = sp.csr_matrix(np.eye(3))
        w.tag.test_value = np.ones((3, 2))
        y = sparse.structured_add(x, 1.0)
        assert y.tag.test_value.format == "csr"
        assert sparse.structured_dot(y, w).tag.test_value.shape == (3, 2)
        w.tag.test_value = np.ones((2, 2))
        with pytest.raises(ValueError, match="structured_dot"):
            sparse.structured_dot(x, w)


def test_diagonals_true_dot_and_sampling_dot_gradients():
    data, make = _from_data("csr")
    check_grad(lambda d: (sparse.diag(make(d)) ** 2).sum()
               + sparse.sp_sum(sparse.sqr(sparse.clean(make(d))), sparse_grad=True), [data])
    check_grad(lambda v: sparse.sp_sum(sparse.sqr(sparse.square_diagonal(v) * 3.0),
                                       sparse_grad=True), [_w(4)])
    check_grad(lambda d, w: sparse.sp_sum(sparse.sqr(sparse.true_dot(make(d), w)),
                                          sparse_grad=True), [data, _w(4, 3)])
    check_grad(lambda d, w: sparse.sp_sum(sparse.sqr(sparse.true_dot(w, make(d))),
                                          sparse_grad=True), [data, _w(3, 4)])
    # p's gradient (symconv's: Theano has none) with x's and y's
    check_grad(lambda d, a, b: sparse.sp_sum(sparse.sqr(sparse.sampling_dot(a, b, make(d))),
                                             sparse_grad=True), [data, _w(4, 3), _w(4, 3, seed=2)])


def test_remove0_and_sorted_indices():
    m = sp.csr_matrix((np.array([0.0, 2.0, 1.0]), np.array([2, 0, 1]), np.array([0, 3, 3])),
                      shape=(2, 3))
    x = sparse.csr_matrix("x", dtype="float64")
    f = symconv.function([x], [sparse.clean(x), sparse.ensure_sorted_indices(x)])
    cleaned, zeros_kept = f(m)
    assert cleaned.nnz == 2 and cleaned.has_sorted_indices
    assert zeros_kept.nnz == 3 and list(zeros_kept.indices) == [0, 1, 2]
    assert list(m.indices) == [2, 0, 1]     # the input is not changed
