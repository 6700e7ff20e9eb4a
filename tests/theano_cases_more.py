"""More programs run under Theano 1.0.5 (fixtures) and symconv (tests): sparse matrices,
generic shared variables, compile.mode, boolean-mask updates and pooling (issue 13's rest).

Same protocol as tests/theano_cases.py (``case_*(th, T)``); recorded into
tests/fixtures/theano_api_more.json by ``make_theano_api.py --module theano_cases_more``.
Cases whose name starts with ``sparse_`` need SciPy. Keep valid for Python 3.10, NumPy 1.23.
"""
import importlib

import numpy as np


def _f(th, inputs, outputs, *values, **kw):
    return th.function(inputs, outputs, on_unused_input="ignore", **kw)(*values)


def _sparse(th):
    return importlib.import_module(th.__name__ + ".sparse")


def _dense(value):
    return value.toarray() if hasattr(value, "toarray") else value


def _sp():
    import scipy.sparse as sp
    return sp


def _a(fmt="csr", dtype="float64"):
    m = np.array([[0, 2.5, 0, -1], [3, 0, 0, 0], [0, 0, 0, 0], [0, -4, 1.5, 2]], dtype=dtype)
    return getattr(_sp(), fmt + "_matrix")(m)


def _w(*shape, seed=1):
    return np.random.RandomState(seed).uniform(-1, 1, size=shape)


# ---- symconv.sparse ----------------------------------------------------------------------

def case_sparse_tutorial_csc_to_csr(th, T):
    """doc/tutorial/sparse.txt "Properties and Construction"."""
    S = _sparse(th)
    x = S.csc_matrix(name="x", dtype="int64")
    data, indices, indptr, shape = S.csm_properties(x)
    y = S.CSR(data, indices, indptr, shape)
    a = _sp().csc_matrix(np.asarray([[0, 1, 1], [0, 0, 0], [1, 0, 0]]))
    out = th.function([x], y)(a)
    return [out.format, out.toarray(), str(x.type), str(y.type)]


def case_sparse_tutorial_structured_add(th, T):
    S = _sparse(th)
    x = S.csc_matrix(name="x", dtype="float32")
    a = _sp().csc_matrix(np.asarray([[0, 0, -1], [0, -2, 1], [3, 0, 0]], dtype="float32"))
    return th.function([x], S.structured_add(x, 2))(a).toarray()


def case_sparse_dense_roundtrip(th, T):
    S = _sparse(th)
    x = S.csc_matrix(name="x", dtype="float64")
    y = S.dense_from_sparse(x)
    z = S.csr_from_dense(y * 2)
    out = th.function([x], [y, z, S.csc_from_dense(y)])(_a("csc"))
    return [out[0], out[1].format, out[1].toarray(), out[2].format, out[2].toarray()]


def case_sparse_structured_dot_grads(th, T):
    S = _sparse(th)
    x, w = S.csr_matrix("x", dtype="float64"), T.dmatrix("w")
    cost = (S.structured_dot(x, w) ** 2).sum()
    gx, gw = T.grad(cost, [x, w])
    out = th.function([x, w], [cost, gx, gw])(_a(), _w(4, 3))
    return [out[0], out[1].format, out[1].toarray(), out[2]]


def case_sparse_dot_grads_are_dense(th, T):
    S = _sparse(th)
    x, w = S.csc_matrix("x", dtype="float64"), T.dmatrix("w")
    cost = T.tanh(S.dot(x, w)).sum()
    gx, gw = T.grad(cost, [x, w])
    out = th.function([x, w], [S.dot(x, w), _dense_of(S, gx), gw])(_a("csc"), _w(4, 2))
    return out


def _dense_of(S, g):
    return S.dense_from_sparse(g) if hasattr(g.type, "format") else g


def case_sparse_dot_dense_times_sparse(th, T):
    S = _sparse(th)
    x, w = S.csr_matrix("x", dtype="float64"), T.dmatrix("w")
    cost = (S.dot(w, x) * 3).sum()
    gw = T.grad(cost, w)
    return th.function([x, w], [S.dot(w, x), gw])(_a(), _w(2, 4))


def case_sparse_dense_from_sparse_grad_is_structured(th, T):
    S = _sparse(th)
    x, w = S.csr_matrix("x", dtype="float64"), T.dmatrix("w")
    cost = (S.dense_from_sparse(x) * w).sum()
    g = T.grad(cost, x)
    out = th.function([x, w], g)(_a(), _w(4, 4))
    return [out.format, out.toarray()]


def case_sparse_add_sub_mul(th, T):
    S = _sparse(th)
    x, y = S.csr_matrix("x", dtype="float64"), S.csr_matrix("y", dtype="float64")
    d = T.dmatrix("d")
    outs = [x + y, x - y, x * y, x + d, x * d, -x, x.T, S.sp_sum(x, axis=0),
            S.sp_sum(x, axis=1), S.sp_sum(x)]
    b = _sp().csr_matrix(_w(4, 4) * (np.abs(_w(4, 4, seed=2)) > 0.5))
    vals = th.function([x, y, d], outs)(_a(), b, _w(4, 4, seed=3))
    return [_dense(v) for v in vals]


def case_sparse_elementwise_grads(th, T):
    S = _sparse(th)
    x, y = S.csr_matrix("x", dtype="float64"), S.csr_matrix("y", dtype="float64")
    d = T.dmatrix("d")
    cost = (S.sp_sum(x * y, sparse_grad=True) + S.sp_sum(x * d, axis=0).sum()
            + (S.dense_from_sparse(x + y) ** 2).sum() + S.sp_sum(S.structured_exp(x)))
    gx, gy, gd = T.grad(cost, [x, y, d])
    b = _sp().csr_matrix(_w(4, 4) * (np.abs(_w(4, 4, seed=2)) > 0.5))
    vals = th.function([x, y, d], [gx, gy, gd])(_a(), b, _w(4, 4, seed=3))
    return [_dense(v) for v in vals]


def case_sparse_from_dense_grad(th, T):
    S = _sparse(th)
    d = T.dmatrix("d")
    cost = S.sp_sum(S.csc_from_dense(d) * S.csc_from_dense(d), sparse_grad=False)
    return th.function([d], T.grad(cost, d))(_w(3, 3))


def case_sparse_shared_with_update(th, T):
    S = _sparse(th)
    s = th.shared(_a("csc"), name="s")
    w = T.dmatrix("w")
    step = th.function([w], S.structured_dot(s, w), updates=[(s, S.structured_add(s, 1.0))])
    first = step(_w(4, 2))
    second = step(_w(4, 2))
    return [first, second, s.get_value().format, s.get_value().toarray(), str(s.type)]


def case_sparse_csr_input_takes_dense(th, T):
    S = _sparse(th)
    x = S.csr_matrix("x", dtype="float64")
    return th.function([x], S.dense_from_sparse(x))(np.eye(2))


def case_sparse_input_converts_other_format(th, T):
    S = _sparse(th)
    x = S.csr_matrix("x", dtype="float64")
    return th.function([x], S.dense_from_sparse(x))(_a("csc"))


# ---- shared variables of any Python object -----------------------------------------------

def case_generic_shared(th, T):
    s = th.shared({"a": 1}, name="s")
    u = th.shared({"b": 2})
    out = th.function([], s)()
    given = th.function([], s, givens={s: u})()
    th.function([], [], updates=[(s, u)])()
    after_update = s.get_value()
    th.function([], [], updates=[(s, {"c": 3})])()
    return [str(s.type), str(out), str(given), str(after_update), str(s.get_value()),
            str(th.shared("abc").type), str(th.shared([1, "a"]).type)]


def case_generic_shared_value_is_copied(th, T):
    value = {"a": [1]}
    s = th.shared(value)
    out = th.function([], s)()
    out["a"].append(2)
    value["a"].append(3)
    return [str(s.get_value()), str(out)]


# ---- theano.compile.mode -------------------------------------------------------------------

def case_compile_mode_get_default_mode(th, T):
    import importlib
    M = importlib.import_module(th.__name__ + ".compile.mode")
    default = M.get_default_mode()
    x = T.dvector("x")
    tuned = default.including("fast_run").excluding("fusion")
    outs = [th.function([x], x * 2 + 1, mode=m)(np.array([1.0, 2.0]))
            for m in (default, tuned, M.get_mode("FAST_COMPILE"), M.get_mode(None),
                      th.compile.get_default_mode())]
    return [type(default).__name__, isinstance(tuned, M.Mode),
            M.get_mode(None) is default or type(M.get_mode(None)) is type(default),
            sorted(M.predefined_modes) == ["DEBUG_MODE", "FAST_COMPILE", "FAST_RUN"]] + outs


def case_compile_mode_unknown_name(th, T):
    import importlib
    return importlib.import_module(th.__name__ + ".compile.mode").get_mode("NO_SUCH_MODE")


# ---- set_subtensor / inc_subtensor on a boolean mask ---------------------------------------

_M = np.array([[1.5, -2.0, 0.5], [-1.0, 3.0, -0.25], [2.0, -3.5, 1.0]])


def case_set_subtensor_bool_mask(th, T):
    x = T.dmatrix("x")
    outs = [T.set_subtensor(x[x > 0], 0), T.inc_subtensor(x[x < 0], 10),
            T.set_subtensor(x[(x > 1).nonzero()], -1)]
    return th.function([x], outs)(_M)


def case_set_subtensor_bool_mask_vector_values(th, T):
    # (Theano cannot differentiate set_subtensor on a mask; symconv can: tests/test_api_more.py)
    x, v = T.dmatrix("x"), T.dvector("v")
    mask = x > 0
    y = T.set_subtensor(x[mask], v)
    z = T.inc_subtensor(x[mask], v * 2)
    gx, gv = T.grad((T.inc_subtensor(x[mask], v) ** 2).sum() + (x[mask] ** 3).sum(), [x, v])
    return th.function([x, v], [y, z, gx, gv])(_M, np.array([1.0, 0.0, 3.0, 4.0, 5.0]))


def case_set_subtensor_row_mask(th, T):
    x, rows = T.dmatrix("x"), T.bvector("rows")
    mask = T.cast(rows, "bool")
    outs = [T.set_subtensor(x[mask], 7.0), T.inc_subtensor(x[mask], 1.0),
            T.inc_subtensor(x[mask, 1:], 1.0)]
    return th.function([x, rows], outs)(_M, np.array([1, 0, 1], dtype="int8"))


# ---- pooling with symbolic sizes, pool_3d, bilinear_upsampling ---------------------------------

def _perm(*shape, seed=0):
    # distinct values: no ties, so max gradients are unambiguous
    return np.random.RandomState(seed).permutation(int(np.prod(shape))).reshape(shape) / 10.0


def _pool_module(th):
    return importlib.import_module(th.__name__ + ".tensor.signal.pool")


def case_pool_2d_symbolic_sizes(th, T):
    P = _pool_module(th)
    x, ws, st, pd = T.dtensor4("x"), T.lvector("ws"), T.lvector("st"), T.lvector("pd")
    outs = []
    for mode in ("max", "sum", "average_inc_pad", "average_exc_pad"):
        # (Theano's average_exc_pad gradient refuses padding)
        pad = pd if mode != "average_exc_pad" else T.zeros_like(pd)
        y = P.pool_2d(x, ws=ws, stride=st, pad=pad, ignore_border=True, mode=mode)
        outs += [y, T.grad((y * y).sum(), x)]
    y = P.pool_2d(x, ws=ws, stride=st, ignore_border=False, mode="max")
    outs += [y, T.grad((y * y).sum(), x)]
    values = [_perm(2, 2, 7, 6), np.array([3, 2]), np.array([2, 1]), np.array([1, 1])]
    f = th.function([x, ws, st, pd], outs, on_unused_input="ignore")
    return f(*values)


def case_pool_3d(th, T):
    P = _pool_module(th)
    x = T.dtensor5("x")
    outs = []
    for mode, ib, pad, st in (("max", True, (0, 0, 0), None), ("max", False, (0, 0, 0), (1, 2, 2)),
                              ("sum", True, (1, 0, 1), (2, 1, 2)),
                              ("average_inc_pad", True, (1, 1, 0), None),
                              ("average_exc_pad", True, (0, 0, 0), (1, 2, 1))):
        y = P.pool_3d(x, ws=(2, 3, 2), ignore_border=ib, stride=st, pad=pad, mode=mode)
        outs += [y, T.grad((y * y).sum(), x)]
    return th.function([x], outs)(_perm(2, 1, 5, 6, 4))


def case_pool_3d_symbolic_ws(th, T):
    P = _pool_module(th)
    x, ws = T.dtensor4("x"), T.lvector("ws")
    y = P.pool_3d(x, ws=ws, ignore_border=True)
    return th.function([x, ws], [y, T.grad(y.sum(), x)])(_perm(2, 4, 4, 6), np.array([2, 2, 3]))


def case_bilinear_upsampling(th, T):
    A = importlib.import_module(th.__name__ + ".tensor.nnet.abstract_conv")
    x = T.dtensor4("x")
    outs = []
    for ratio, one_d in ((2, True), (3, True), (3, False), (1, True)):
        y = A.bilinear_upsampling(x, ratio=ratio, use_1D_kernel=one_d)
        outs += [y, T.grad((y * T.arange(y.shape[3])).sum(), x)]
    outs.append(A.bilinear_kernel_1D(3))
    outs.append(A.bilinear_kernel_2D(2, normalize=False))
    return th.function([x], outs)(_w(2, 2, 3, 4))


def case_get_conv_output_shape(th, T):
    A = importlib.import_module(th.__name__ + ".tensor.nnet.abstract_conv")
    return [np.array(A.get_conv_output_shape((8, 3, 32, 30), (16, 3, 5, 4), mode, sub))
            for mode, sub in (("valid", (1, 1)), ("full", (2, 2)), ("half", (1, 2)),
                              ((2, 1), (3, 1)))]


# ---- inputs that keep state: In(update=...) and function's input shortcuts ----------------------

def _c(value):
    # a copy now: Theano hands out its storage, which later calls overwrite in place
    return np.array(value)


def case_in_with_update_keeps_state(th, T):
    """doc/library/compile/io.txt, "Input Argument Restrictions" onwards."""
    x, s, u = T.dscalar("x"), T.dscalar("s"), T.dscalar("u")
    inc = th.function([u, th.In(x, value=3), th.In(s, update=(s + x * u), value=10.0)], [])
    seen = [inc(5), _c(inc[s]), inc(3, 4), _c(inc[s]), _c(inc[x]), inc(3, 4, 7), _c(inc[s])]
    inc[s] = 10
    seen.append(_c(inc[s]))
    dec = th.function([u, th.In(x, value=3), th.In(s, update=(s - x * u), value=10.0)], s * 2)
    seen += [dec(1), dec(1, 2), _c(dec[s])]
    return [v for v in seen if not isinstance(v, list)]


def case_input_shortcuts(th, T):
    a, b, c = T.dscalars("xys")
    fn = th.function([a, b, ((c, c + a + b), 10.0)], [])
    seen = [fn["s"] is fn.value[c], fn["s"] is fn.container[c].value, _c(fn["s"]), fn(1, 2),
            _c(fn["s"])]
    fn["s"] = 99.0
    fn(1, 0)
    seen.append(_c(fn["s"]))
    fn.value[c] = 50.0
    fn(1, 1)
    seen.append(_c(fn.value[c]))
    x, y, z, w = T.dscalar(), T.dscalar("y"), T.dscalar("z"), T.dscalar("w")
    g = th.function(inputs=[x, y, th.In(z, value=42), ((w, w + x), 0.0)], outputs=x + y + z)
    seen += [g(1, 2), g(1, y=2), g(1, 2, 3), g(1, z=3, y=2), g(1, 2, w=400), g(1, 2), _c(g["w"])]
    h = th.function([("named", x), ("v", y, 5.0)], x * y)
    seen += [h(2), h(named=3), h(2, v=4)]
    return [v for v in seen if not isinstance(v, list)]


def case_stateful_function_missing_input(th, T):
    x, w = T.dscalar(), T.dscalar("w")
    return th.function([x, T.dscalar("y"), ((w, w + x), 0.0)], x)(1)


def case_stateful_function_unknown_keyword(th, T):
    x, w = T.dscalar(), T.dscalar("w")
    return th.function([x, T.dscalar("y"), ((w, w + x), 0.0)], x)(x=1, y=2)


def case_sparse_sgd_step_on_a_shared_sparse_weight(th, T):
    S = _sparse(th)
    W = th.shared(_a("csr"), name="W")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    pred = T.tanh(S.structured_dot(W, x))
    cost = ((pred - y) ** 2).mean()
    gW = T.grad(cost, W)
    step = th.function([x, y], cost, updates=[(W, W - 0.5 * gW)])
    costs = [step(_w(4, 3, seed=5), _w(4, 3, seed=6)) for _ in range(3)]
    return costs + [W.get_value().format, W.get_value().toarray()]


# ---- MonitorMode ---------------------------------------------------------------------------------

def case_monitor_mode_callbacks(th, T):
    """doc/tutorial/debug_faq.txt, "How do I Step through a Compiled Function?"."""
    seen = []

    def pre(i, node, fn):
        seen.append(("pre", i, [np.array(c[0]) for c in fn.inputs]))

    def post(i, node, fn):
        seen.append(("post", i, [np.array(c[0]) for c in fn.outputs]))

    x = T.dscalar("x")
    f = th.function([x], [5 * x], mode=th.compile.MonitorMode(pre_func=pre, post_func=post))
    result = f(3)
    flat = []
    for kind, i, values in seen:
        flat += [kind, np.array(i)] + values
    return flat + [np.asarray(result[0])]


def case_monitor_mode_detect_nan(th, T):
    found = []

    def detect_nan(i, node, fn):
        for output in fn.outputs:
            if np.isnan(output[0]).any():
                found.append(np.array(output[0]))
                break

    x = T.dscalar("x")
    f = th.function([x], [T.log(x) * x], mode=th.compile.MonitorMode(post_func=detect_nan))
    with np.errstate(divide="ignore", invalid="ignore"):   # log(0) * 0 is NaN on purpose
        f(0)
    f(2)
    return [np.array(len(found))] + found


def _small(fmt="csr"):
    m = np.array([[0, 0.5, 0, -0.25], [0.75, 0, 0, 0], [0, 0, 0, 0], [0, -0.4, 0.3, 0.2]])
    return getattr(_sp(), fmt + "_matrix")(m)


def case_sparse_monoids_and_scales(th, T):
    S = _sparse(th)
    x, v = S.csr_matrix("x", dtype="float64"), T.dvector("v")
    names = ("sin", "arcsin", "tan", "arctan", "sinh", "arcsinh", "tanh", "arctanh", "rad2deg",
             "deg2rad", "rint", "ceil", "floor", "trunc", "sgn", "log1p", "expm1", "sqr", "sqrt")
    outs = [getattr(S, n)(abs(x) if n == "sqrt" else x) for n in names if n != "sqrt"]
    outs += [S.sqrt(S.sqr(x)), S.col_scale(x, v), S.row_scale(x, v), S.fcast(x), S.lcast(x)]
    cost = sum(S.sp_sum(o, sparse_grad=True) for o in outs[:9]) + S.sp_sum(
        S.col_scale(x, v) * S.row_scale(x, v), sparse_grad=True)
    gx, gv = T.grad(cost, [x, v])
    vals = th.function([x, v], outs + [gx, gv])(_small(), np.array([1.0, -2.0, 3.0, 0.5]))
    return [_dense(o) for o in vals]


def case_sparse_structured_dot_of_two_sparse(th, T):
    S = _sparse(th)
    x, y = S.csr_matrix("x", dtype="float64"), S.csc_matrix("y", dtype="float64")
    z = S.structured_dot(x, y)
    cost = S.sp_sum(z * z, sparse_grad=True)
    gx = T.grad(cost, x)
    out = th.function([x, y], [z, gx])(_small(), _small("csc").T.tocsc() * 2)
    return [out[0].format, out[0].toarray(), out[1].format, _dense(out[1])]


def case_sparse_hstack_vstack(th, T):
    S = _sparse(th)
    x, y = S.csr_matrix("x", dtype="float64"), S.csc_matrix("y", dtype="float64")
    h, v = S.hstack([x, y]), S.vstack([x, y], format="csc")
    w = T.dmatrix("w")
    cost = (S.dense_from_sparse(h) * w).sum() + S.sp_sum(v * v, sparse_grad=True)
    gx, gy = T.grad(cost, [x, y])
    out = th.function([x, y, w], [h, v, gx, gy])(_small(), _small("csc"), _w(4, 8))
    return [out[0].format, out[1].format] + [_dense(o) for o in out]


def case_sparse_indexing(th, T):
    S = _sparse(th)
    x, i = S.csr_matrix("x", dtype="float64"), T.iscalar("i")
    outs = [x[1, 3], x[i, 1], x[1:3, ::2], x[i:, :i], x[::-1, 1:], x[1:i]]
    vals = th.function([x, i], outs)(_a(), 3)
    return [_dense(v) for v in vals] + [vals[2].format]


def case_sparse_mixed_index_is_refused(th, T):
    S = _sparse(th)
    return S.csr_matrix("x", dtype="float64")[1, 1:3]


def case_sparse_comparisons(th, T):
    S = _sparse(th)
    x, y = S.csr_matrix("x", dtype="float64"), S.csr_matrix("y", dtype="float64")
    d = T.dmatrix("d")
    outs = [S.eq(x, y), S.neq(x, y), x < y, x >= y, S.gt(x, d), S.le(x, d), S.lt(d, x),
            S.ge(d, x), x > d]
    b = _sp().csr_matrix(np.array([[0, 2.5, 1, 0], [3, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1.5, 3]]))
    vals = th.function([x, y, d], outs)(_a(), b, _w(4, 4, seed=8))
    return [_dense(v) for v in vals] + [vals[0].format, str(outs[0].type)]


# ---- as_op ---------------------------------------------------------------------------------------

def case_as_op_numpy_dot(th, T):
    """doc/extending/extending_theano.txt, "as_op Example", and its exercise (two outputs)."""
    ops = importlib.import_module(th.__name__ + ".compile.ops")

    @ops.as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix])
    def numpy_dot(a, b):
        return np.dot(a, b)

    @ops.as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix, T.dmatrix])
    def add_sub(a, b):
        return np.add(a, b), np.subtract(a, b)

    x, y = T.dmatrix("x"), T.dmatrix("y")
    s, d = add_sub(x, y)
    f = th.function([x, y], [numpy_dot(x, y.T), s, d * 2, numpy_dot(x, y.T).sum()])
    return f(_w(3, 4), _w(3, 4, seed=2))


def case_as_op_checks_input_types(th, T):
    ops = importlib.import_module(th.__name__ + ".compile.ops")

    @ops.as_op(itypes=[T.dmatrix], otypes=[T.dmatrix])
    def double(a):
        return a * 2

    return double(T.fmatrix())


# ---- typed_list ----------------------------------------------------------------------------------

def case_typed_list_ops(th, T):
    """doc/library/typed_list.txt and the ops of theano.typed_list.basic."""
    TL = importlib.import_module(th.__name__ + ".typed_list")
    tl = TL.TypedListType(T.dvector)()
    v, i = T.dvector("v"), T.lscalar("i")
    outs = [TL.append(tl, v), TL.extend(tl, tl), TL.insert(tl, i, v), TL.remove(tl, v),
            TL.reverse(tl), tl[i], tl[1:], tl[::-1], TL.make_list([v, v * 2])]
    ints = [TL.length(tl), TL.count(tl, v), TL.index_(tl, v)]
    f = th.function([tl, v, i], outs + ints)
    values = f([np.arange(3.0), np.array([4.0, 5.0]), np.arange(3.0)], np.arange(3.0), 1)
    return [str(tl.type)] + [list(o) if isinstance(o, list) else o for o in values]


def case_typed_list_in_scan(th, T):
    TL = importlib.import_module(th.__name__ + ".typed_list")
    a = TL.TypedListType(T.fvector)()
    n = TL.length(a)
    s, _ = th.scan(fn=lambda k, tl: tl[k].sum(), non_sequences=[a],
                   sequences=[T.arange(n, dtype="int64")])
    return th.function([a], s)([[1, 2, 3], [4, 5]])


def case_sparse_diag_clean_true_dot_sampling_dot(th, T):
    S = _sparse(th)
    x, v = S.csr_matrix("x", dtype="float64"), T.dvector("v")
    a, b, p = T.dmatrix("a"), T.dmatrix("b"), S.csr_matrix("p", dtype="float64")
    # (Theano has no gradient for sampling_dot's p: p is not differentiated here)
    td, tdt, smp = S.true_dot(x, a), S.true_dot(b.T, x), S.sampling_dot(a, b, p)
    sq = S.square_diagonal(v)
    outs = [S.diag(x), sq, S.clean(x), S.remove0(x), S.ensure_sorted_indices(x), td, tdt, smp]
    cost = (S.sp_sum(td * td, sparse_grad=True) + S.sp_sum(smp, sparse_grad=True)
            + S.sp_sum(sq * sq, sparse_grad=True) + S.diag(x).sum() + S.sp_sum(tdt))
    grads = T.grad(cost, [x, v, a, b])
    vals = th.function([x, v, a, b, p], outs + grads)(_a(), np.array([1.0, -2.0, 3.0, 0.5]),
                                                      _w(4, 3), _w(4, 3, seed=4), _small())
    return [getattr(o, "format", "dense") for o in vals] + [_dense(o) for o in vals]
