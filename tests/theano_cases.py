"""The same small programs run under Theano 1.0.5 (to record fixtures) and under symconv (tests).

Each ``case_*(th, T)`` gets the package (``theano`` or ``symconv``) and its tensor module and
returns arrays, numbers, strings or lists of them. ``tests/fixtures/make_theano_api.py`` runs
every case under Theano and writes ``tests/fixtures/theano_api.json``; ``test_theano_api.py``
runs them under symconv and compares. Keep this file valid for Python 3.10 and NumPy 1.23.
"""
import numpy as np


def _f(th, inputs, outputs, *values, **kw):
    return th.function(inputs, outputs, on_unused_input="ignore", **kw)(*values)


# ---- issue 13 item 1: stabilising rewrites ------------------------------------------------

def case_logistic_regression_tutorial(th, T):
    """doc/tutorial/examples.txt "A Real Example", 100 steps (Theano's runs 10000)."""
    rng = np.random.RandomState(0)
    n, feats = 400, 784
    data = (rng.randn(n, feats), rng.randint(size=n, low=0, high=2))
    x, y = T.dmatrix("x"), T.dvector("y")
    w = th.shared(rng.randn(feats), name="w")
    b = th.shared(0., name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = th.function([x, y], [prediction, xent],
                        updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    predict = th.function([x], prediction)
    for _ in range(100):
        train(data[0], data[1])
    return [w.get_value(), b.get_value(), predict(data[0])]


def case_logistic_gradient_at_large_logits(th, T):
    z = T.dvector("z")
    p = 1 / (1 + T.exp(-z))
    cost = -T.log(p).sum()
    return _f(th, [z], [p, T.log(p), T.grad(cost, z)], np.array([-50., -5., 0., 5., 50.]))


def case_exp_over_one_plus_exp(th, T):
    z = T.dvector("z")
    p = T.exp(z) / (1 + T.exp(z))
    return _f(th, [z], [p, T.grad(T.log(p).sum(), z)], np.array([-30., -1., 0., 2., 30.]))


def case_log_sigmoid_forms(th, T):
    z = T.dvector("z")
    s = T.nnet.sigmoid(z)
    cost = (T.log(s) + 2 * T.log(1 - s)).sum()
    return _f(th, [z], [T.log(s), T.grad(cost, z)], np.array([-800., -40., 0., 3., 40.]))


def case_binary_crossentropy_of_sigmoid(th, T):
    z, y = T.dvector("z"), T.dvector("y")
    e = T.nnet.binary_crossentropy(T.nnet.sigmoid(z), y)
    return _f(th, [z, y], [e, T.grad(e.sum(), z)], np.array([50., -50., 800., -800., 0.5]),
              np.array([0., 1., 0., 1., 1.]))


def case_log_one_plus_x(th, T):
    a = T.dvector("a")
    forms = [T.log(1 + a), T.log(a + 1), T.log(1 - a)]
    return _f(th, [a], forms + T.grad(sum(f.sum() for f in forms), [a]),
              np.array([1e-20, -1e-18, 0.25]))


def case_log_exp_plus_exp(th, T):
    a, b = T.dvectors("a", "b")
    e = T.log(T.exp(a) + T.exp(b))
    return _f(th, [a, b], [e] + T.grad(e.sum(), [a, b]), np.array([300., -300., 0., 1.]),
              np.array([300., -300., 1., 1.]))


# ---- items 2-7 ----------------------------------------------------------------------------

def case_softmax_of_a_vector_is_a_row(th, T):
    x = T.dvector("x")
    v = np.array([1., 2., 0.5])
    sm, lsm = T.nnet.softmax(x), T.nnet.logsoftmax(x)
    return [sm.ndim, lsm.ndim] + _f(th, [x], [sm, lsm, T.grad(sm[0, 1], x)], v)


def case_maximum_minimum_tie_gradient(th, T):
    a, b = T.dscalars("a", "b")
    return _f(th, [a, b], T.grad(T.maximum(a, b), [a, b]) + T.grad(T.minimum(a, b), [a, b])
              + T.grad(T.maximum(a, b), [a, b]), 1., 1.)


def case_prod_gradient_with_zeros(th, T):
    m = T.dmatrix("m")
    g = T.grad(T.prod(m), m)
    rows = T.grad((T.prod(m, axis=1) * [1., 2., 3.]).sum(), m)
    return [_f(th, [m], g, np.array([[0., 2.]])), _f(th, [m], g, np.array([[0., 0., 2.]])),
            _f(th, [m], g, np.array([[3., 2.]])),
            _f(th, [m], rows, np.array([[0., 2., 4.], [0., 0., 5.], [1., 2., 3.]]))]


def case_clip_with_lo_above_hi(th, T):
    x = T.dvector("x")
    lo, hi = T.dscalars("lo", "hi")
    c = T.clip(x, lo, hi)
    v = np.array([0., 1., 1.5, 2., 3.])
    return (_f(th, [x, lo, hi], [c] + T.grad(c.sum(), [x, lo, hi]), v, 2., 1.)
            + _f(th, [x, lo, hi], [c] + T.grad(c.sum(), [x, lo, hi]), v, 1., 2.))


def case_float16_mean(th, T):
    h = T.vector(dtype="float16")
    m = h.mean()
    return [m.dtype, _f(th, [h], m, np.full(100000, 100, "float16"))]


def case_grad_wrt_constant(th, T):
    c = T.constant(np.float64(2.))
    return _f(th, [], T.grad(c ** 2, c))


def case_disconnected_grad_disconnects(th, T):
    a = T.dscalar("a")
    return T.grad(th.gradient.disconnected_grad(a) * 2, a)


def case_grad_through_int_cast(th, T):
    i, a = T.iscalar("i"), T.dscalar("a")
    iv = T.ivector("iv")
    return [_f(th, [i], T.grad(T.cast(i, "float64") * 2.5, i), 3),
            _f(th, [i, a], T.grad(i * a, i), 3, 1.5),
            _f(th, [iv], T.grad(T.cast(iv, "float64").sum(), iv), np.array([1, 2], "int32")),
            _f(th, [a], T.grad(T.cast(a, "int32") * a, a), 1.5),
            _f(th, [a], T.grad(T.cast(T.cast(a, "int32"), "float64"), a), 1.5)]


def case_grad_of_argmax_cost(th, T):
    x = T.dvector("x")
    return [_f(th, [x], T.grad(T.argmax(x) * 1.0, x), np.array([1., 3., 2.])),
            _f(th, [x], T.grad(T.max(x) * T.argmax(x), x), np.array([1., 3., 2.]))]


def case_relu_values_and_gradients(th, T):
    """T.nnet.relu is 0.5 * (x + |x|) (leaky: f1 x + f2 |x|): its gradient at 0 is 0.5.
    Leaky slopes in float64 only: Theano without a C compiler (as recorded) evaluates fused
    float32 expressions in float64, so its float32 last bits are not those of its C code."""
    out = []
    for dtype, alphas in (("float32", (0,)), ("float64", (0, 0.01, 0.3))):
        x = T.vector("x", dtype=dtype)
        xv = np.array([-2.5, -1e-3, 0.0, 1e-3, 0.7, 3.0], dtype=dtype)
        for alpha in alphas:
            # a NumPy alpha: a Python float is weakly typed in symconv (on purpose)
            y = T.nnet.relu(x, np.float64(alpha) if alpha else 0)
            out += _f(th, [x], [y, T.grad(y.sum(), x)], xv)
    return out


# ---- OpFromGraph ---------------------------------------------------------------------------

def case_op_from_graph_doc_examples(th, T):
    """doc/library/compile/opfromgraph.txt: two calls in one graph, a shared variable inside."""
    x, y, z = T.scalars("xyz")
    op = th.OpFromGraph([x, y, z], [x + y * z])
    e2 = op(x, y, z) + op(z, y, x)
    a, b, c = T.dmatrices("abc")
    s = th.shared(np.arange(4.0).reshape(2, 2) / 3)
    op2 = th.OpFromGraph([a, b, c], [a + b * c + s])
    e3 = op2(a, b, c).sum() * op2(c, b, a).sum()
    m = [np.array([[1.0, -2.0], [0.5, 3.0]]) * k for k in (1, 2, 3)]
    return (_f(th, [x, y, z], [e2] + T.grad(e2, [x, y, z]), 2.0, 3.0, 4.0)
            + _f(th, [a, b, c], [e3] + T.grad(e3, [a, b, c, s]), *m))


def case_op_from_graph_grad_overrides(th, T):
    """Per-input overrides ('default' or a callable) and a callable for all inputs."""
    x, y, z = T.scalars("xyz")

    def rescale_dy(inps, grads):
        return inps[2] * 2 * grads[0]
    op = th.OpFromGraph([x, y, z], [x + y * z], grad_overrides=["default", rescale_dy,
                                                                "default"])
    e2 = op(x, y, z) * 3
    u, v = T.dvectors("uv")
    both = th.OpFromGraph([u, v], [u * v, u + v],
                          grad_overrides=lambda i, g: [g[0] * i[1] * 2 + g[1], g[0] * i[0]])
    p, q = both(u, v)
    cost = (p * np.array([1.0, -1.0, 2.0])).sum() + (3 * q).sum()
    uv = (np.array([1.0, 2.0, -3.0]), np.array([0.5, -1.5, 4.0]))
    return (_f(th, [x, y, z], T.grad(e2, [x, y, z]), 2.0, 3.0, 4.0)
            + _f(th, [u, v], [p, q] + T.grad(cost, [u, v]), *uv))


def case_op_from_graph_lop_overrides_and_nesting(th, T):
    u, v = T.dvectors("uv")
    scaled = th.OpFromGraph([u], [T.tanh(u)],
                            lop_overrides=lambda i, o, g: [g[0] * (1 - o[0] ** 2) * 10])
    inner = th.OpFromGraph([u, v], [u * v + 1])
    outer = th.OpFromGraph([u, v], [inner(u, v) * inner(v, u)])
    cost = scaled(u).sum() + outer(u, v).sum()
    uv = (np.array([0.3, -1.2]), np.array([2.0, 0.25]))
    return _f(th, [u, v], [cost] + T.grad(cost, [u, v]), *uv)


def case_op_from_graph_wrong_arguments(th, T):
    x, y = T.dscalars("xy")
    op = th.OpFromGraph([x, y], [x * y])
    return op(x)


# ---- items 8-9 ----------------------------------------------------------------------------

def case_typed_constructors_are_types(th, T):
    x = T.dmatrix("x")
    return [x.type == T.dmatrix, th.shared(np.arange(3)).type == T.lvector,
            T.fvector("v").type == T.fvector, T.fvector.dtype,
            list(T.brow.broadcastable), T.ctensor3.ndim, T.zcol.dtype]


def case_tensortype_positional_broadcastable(th, T):
    tt = T.TensorType("float32", (False, True))
    v = tt("v")
    return [list(tt.broadcastable), tt.ndim, v.name, list(v.broadcastable), v.dtype]


def case_plural_constructors(th, T):
    a, b = T.dscalars("a", "b")
    m1, m2, m3 = T.matrices(3)
    one = T.fvectors("q")
    return [a.name, b.dtype, m3.ndim, m1.dtype, one.name, one.dtype,
            [v.dtype for v in T.iscalars("i", "j")], [v.ndim for v in T.ftensor4s("k", "l")]]


def case_second_broadcasts(th, T):
    x, t3 = T.dvector("x"), T.dtensor3("t3")
    s = T.second(x, t3)
    return _f(th, [x, t3], s, np.array([1., 2.]), np.arange(12.).reshape(2, 3, 2))


def case_switch_needs_three_arguments(th, T):
    return T.switch(T.dscalar("c"), T.dvector("x"))


def case_addbroadcast_out_of_range(th, T):
    return T.addbroadcast(T.dmatrix("m"), 2)


def case_patternbroadcast_empty(th, T):
    m = T.patternbroadcast(T.dmatrix("m"), ())
    return [list(m.broadcastable), m.ndim]


def case_constant_too_large(th, T):
    return T.constant(2 ** 64)


def case_constant_uint64(th, T):
    c = T.constant(2 ** 63)
    return [c.dtype, c.value]


def case_verify_grad_broadcasts_size_one_axes(th, T):
    rng = np.random.RandomState(1)
    th.gradient.verify_grad(lambda a, b: a - b, [rng.rand(2, 2), rng.rand(1, 1)], rng=rng)
    return "ok"


# ---- missing API: products and derivatives -------------------------------------------------

def _r(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape)


def case_tensordot_batched_dot_nd_dot(th, T):
    a, b, c = T.dtensor3("a"), T.dtensor3("b"), T.dmatrix("c")
    v = T.dvector("v")
    outs = [T.tensordot(a, c, [[1, 2], [0, 1]]), T.tensordot(a, b, [[2], [1]]), T.batched_dot(a, b),
            T.dot(a, v), T.dot(a, c.T), T.batched_dot(c, c)]
    cost = sum((o ** 2).sum() for o in outs)
    return _f(th, [a, b, c, v], outs + T.grad(cost, [a, b, c, v]), _r(2, 3, 4), _r(2, 4, 3, seed=1),
              _r(3, 4, seed=2), _r(4, seed=3))


def case_rop_lop_doc_example(th, T):
    W, V = T.dmatrix("W"), T.dmatrix("V")
    x, v = T.dvector("x"), T.dvector("v")
    y = T.dot(x, W)
    jv = T.Rop(y, W, V)
    vj = T.Lop(y, W, v)
    y2 = T.tanh(T.dot(x, W))
    return [_f(th, [W, V, x], jv, np.ones((2, 2)), 2 * np.ones((2, 2)), np.array([0., 1.])),
            _f(th, [W, v, x], vj, np.ones((2, 2)), np.array([2., 2.]), np.array([0., 1.])),
            _f(th, [W, V, x], T.Rop(y2, W, V), _r(2, 2), _r(2, 2, seed=1), np.array([0.5, -1.]))]


def case_jacobian_hessian_doc_example(th, T):
    x = T.dvector("x")
    J = th.gradient.jacobian(x ** 2, x)
    H = th.gradient.hessian(T.sum(x ** 3 + T.sin(x)), x)
    return _f(th, [x], [J, H], np.array([4., 4., 1.]))


def case_consider_constant(th, T):
    x = T.dscalar("x")
    y = th.gradient.consider_constant(x * x) * x
    return _f(th, [x], [y, T.grad(y, x)], 3.)


# ---- missing API: constructors and rearrangements ------------------------------------------

def case_eye_tri_tril_triu(th, T):
    m = T.dmatrix("m")
    n = T.iscalar("n")
    return [T.eye(3, 4, 1).eval(), T.eye(n).eval({n: 2}), T.tri(3, 2, -1).eval(),
            _f(th, [m], [T.tril(m), T.triu(m, 1), T.tril(m, -1)], _r(3, 4))]


def case_tile_stacklists_grids(th, T):
    x = T.dvector("x")
    a, b, c, d = T.dscalars("a", "b", "c", "d")
    m = T.dmatrix("m")
    t = T.tile(m, (2, 3))
    return [_f(th, [m], [t, T.grad((t * t).sum(), m)], _r(2, 2)),
            _f(th, [a, b, c, d], T.stacklists([[a, b], [c, d]]), 1., 2., 3., 4.),
            T.mgrid[0:2, 0:3][0].eval(), T.mgrid[0:2, 0:3][1].eval(),
            T.ogrid[0:3, 0:2][0].eval(), _f(th, [x], T.tile(x, (2,)), np.array([1., 2.]))]


def case_ptp_swapaxes_choose_power(th, T):
    t = T.dtensor3("t")
    i = T.ivector("i")
    x, y = T.dvectors("x", "y")
    return [_f(th, [t], [T.ptp(t), T.ptp(t, axis=1), T.swapaxes(t, 0, 2)], _r(2, 3, 4)),
            _f(th, [i, x, y], T.choose(i, [x, y]), np.array([0, 1, 1], "int32"),
               np.array([1., 2., 3.]), np.array([4., 5., 6.])),
            _f(th, [x, y], [T.power(x, y)] + T.grad(T.power(x, y).sum(), [x, y]),
               np.array([1., 2., 3.]), np.array([2., 0.5, 1.]))]


def case_cov(th, T):
    m, y = T.dmatrix("m"), T.dmatrix("y")
    return _f(th, [m, y], [T.cov(m), T.cov(m, rowvar=False), T.cov(m, bias=True),
                           T.cov(m, y), T.cov(m, ddof=0)], _r(3, 5), _r(2, 5, seed=1))


def case_inverse_trig_and_hyperbolic(th, T):
    x = T.dvector("x")
    fs = [T.arccos(x), T.arcsin(x), T.arctan(x), T.tan(x), T.sinh(x), T.cosh(x),
          T.arcsinh(x), T.arctanh(x), T.arctan2(x, x + 2), T.arccosh(x + 2)]
    return _f(th, [x], fs + T.grad(sum(f.sum() for f in fs), x), np.array([-0.5, 0.1, 0.7]))


def case_nonzero_family(th, T):
    m = T.dmatrix("m")
    v = np.array([[0., 2., 0.], [3., 0., 4.]])
    return _f(th, [m], list(T.nonzero(m)) + [T.flatnonzero(m), T.nonzero_values(m),
                                             m.nonzero_values()], v)


def case_permutations(th, T):
    p = T.ivector("p")
    x, pm = T.dmatrix("x"), T.imatrix("pm")
    return [_f(th, [p], T.inverse_permutation(p), np.array([2, 0, 3, 1], "int32")),
            _f(th, [x, pm], [T.permute_row_elements(x, pm),
                             T.permute_row_elements(x, pm, inverse=True)],
               np.arange(6.).reshape(2, 3), np.array([[2, 0, 1], [1, 2, 0]], "int32"))]


def case_xlogy0(th, T):
    x, y = T.dvectors("x", "y")
    return _f(th, [x, y], [T.xlogx.xlogy0(x, y), T.xlogx.xlogx(y)], np.array([0., 1., 2.]),
              np.array([0.5, 2., 3.]))


def case_extra_ops(th, T):
    x, m = T.dvector("x"), T.dmatrix("m")
    i = T.ivector("i")
    E = T.extra_ops
    outs = [E.cumsum(x), E.cumsum(m, axis=0), E.cumprod(m, axis=1), E.diff(x),
            E.repeat(x, 2), E.squeeze(T.shape_padleft(x))]
    cost = sum((o ** 2).sum() for o in outs)
    # Theano has no gradient for these
    outs += [E.repeat(m, [1, 2], axis=0), E.repeat(m, 2, axis=1), E.diff(m, n=2)]
    xv, mv = np.array([1., 3., -2., 4.]), np.array([[1., 2., 3.], [4., -5., 6.]])
    return [_f(th, [x, m], outs + T.grad(cost, [x, m]), xv, mv),
            _f(th, [i], [E.bincount(i), E.bincount(i, minlength=6)], np.array([0, 3, 3, 1],
                                                                             "int32")),
            _f(th, [i], E.to_one_hot(i, 4), np.array([0, 3, 1], "int32")),
            _f(th, [m], E.fill_diagonal(m, 9.), mv)]


def case_sort_argsort(th, T):
    x, m = T.dvector("x"), T.dmatrix("m")
    s = T.sort(m, axis=1)
    return [_f(th, [x], [T.sort(x), T.argsort(x)], np.array([3., 1., 2.])),
            _f(th, [m], [s, T.argsort(m, axis=0), T.grad((s * [1., 2., 3.]).sum(), m)],
               np.array([[3., 1., 2.], [0., 5., 4.]]))]


def case_bool_mask_indexing(th, T):
    m = T.dmatrix("m")
    r = m[m > 1]
    rows = m[T.gt(m.sum(axis=1), 2)]
    return _f(th, [m], [r, rows, T.grad(r.sum() + (rows ** 2).sum(), m)],
              np.array([[0., 2.], [3., 1.]]))


def case_unpack_fixed_length_vector(th, T):
    m = T.dmatrix("m")
    a, b = m.shape[:2]
    return _f(th, [m], [a, b * 10], np.zeros((2, 5)))


def case_specify_shape(th, T):
    m = T.dmatrix("m")
    s = T.specify_shape(m, (2, 3))
    f = th.function([m], s * 2)
    return [list(s.broadcastable), f(np.ones((2, 3))),
            T.grad(s.sum(), m).eval({m: np.ones((2, 3))})]


def case_floatx_dtype_strings(th, T):
    return [T.matrix(dtype="floatX").dtype, T.ones_like(T.ivector(), dtype="floatX").dtype,
            T.sum(T.ivector(), dtype="floatX").dtype,
            T.arange(3, dtype="floatX").dtype, T.dvector().astype("floatX").dtype,
            T.cast(T.ivector(), "floatX").dtype, T.constant(1, dtype="floatX").dtype]


def case_change_flags_dict_and_warn(th, T):
    th.config.warn.sum_div_dimshuffle_bug = False
    with th.change_flags({"floatX": "float32"}):
        inside = T.matrix().dtype
    return [inside, T.matrix().dtype, th.scalar.upcast("int32", "float32"),
            th.scalar.upcast("int8", "uint8"),
            th.compile.shared(np.zeros(2), name="s").get_value()]


def case_batch_normalization(th, T):
    x = T.dmatrix("x")
    t4 = T.dtensor4("t4")
    g, b = T.dvector("g"), T.dvector("b")
    bn = T.nnet.bn
    out, mean, invstd = bn.batch_normalization_train(x, g, b)
    g4 = T.TensorType("float64", (True, False, True, True))("g4")
    b4 = T.TensorType("float64", (True, False, True, True))("b4")
    rm = T.TensorType("float64", (True, False, True, True))("rm")
    outs = bn.batch_normalization_train(t4, g4, b4, "spatial", 1e-3, 0.2, rm, rm * 2)
    test = bn.batch_normalization_test(x, g, b, x.mean(0), x.var(0))
    xv, gv, bv = _r(4, 3), np.array([1., 2., 0.5]), np.array([0., 1., -1.])
    t4v = _r(2, 3, 2, 2, seed=1)
    ones = np.ones((1, 3, 1, 1))
    return [_f(th, [x, g, b], [out, mean, invstd, test, T.grad((out ** 2 * [1., 2., 3.]).sum(),
                                                             x)], xv, gv, bv),
            _f(th, [t4, g4, b4, rm], list(outs), t4v, ones * 2, ones, ones * 0.5)]


def case_conv_output_shape(th, T):
    from_theano = th.tensor.nnet.abstract_conv.get_conv_output_shape
    return [list(from_theano((8, 3, 28, 28), (16, 3, 5, 5), "valid", (1, 1))),
            list(from_theano((8, 3, 28, 28), (16, 3, 5, 5), "half", (2, 2))),
            list(from_theano((8, 3, 28, 27), (16, 3, 5, 4), "full", (1, 3), (2, 1))),
            list(from_theano((8, 3, 28, 28), (16, 3, 5, 5), (1, 2), (1, 1)))]


def case_methods(th, T):
    m = T.dmatrix("m")
    outs = [m.cumsum(axis=0), m.repeat(2, axis=1), m.ptp(axis=0), m.swapaxes(0, 1),
            m.diagonal(), m.sort(axis=0), m.argsort(), m.round(), m.zeros_like(),
            m.cumprod()]
    return _f(th, [m], outs, np.array([[1.5, -2.], [0.5, 3.]]))


def case_printing_print_and_pprint(th, T):
    x = T.dvector("x")
    y = th.printing.Print("x is")(x) * 2
    return [th.function([x], y)(np.array([1., 2.])), isinstance(th.printing.pprint(x * 2), str)]


def case_function_copy_swap_and_delete_updates(th, T):
    """doc/tutorial/examples.txt, "Copying functions"."""
    state = th.shared(0)
    inc = T.iscalar("inc")
    accumulator = th.function([inc], state, updates=[(state, state + inc)])
    accumulator(10)
    new_state = th.shared(0)
    new_accumulator = accumulator.copy(swap={state: new_state})
    first = new_accumulator(100)
    null_accumulator = accumulator.copy(delete_updates=True)
    second = null_accumulator(9000)
    # Theano's copies return a list of one output (symconv's too)
    return [first, new_state.get_value(), second, state.get_value()]


def case_test_values_computed_when_built(th, T):
    rng = np.random.RandomState(0)
    with th.change_flags(compute_test_value="raise"):
        x = T.dmatrix("x")
        x.tag.test_value = rng.rand(5, 10)
        w = th.shared(rng.rand(10, 3))
        h = T.tanh(T.dot(x, w))
        return [h.tag.test_value, (h.sum() * 2).tag.test_value]


def case_test_value_shape_error_at_build_time(th, T):
    rng = np.random.RandomState(0)
    with th.change_flags(compute_test_value="raise"):
        x = T.dmatrix("x")
        x.tag.test_value = rng.rand(5, 10)
        w = th.shared(rng.rand(5, 3))
        return T.dot(x, w)


def case_test_value_missing_raises(th, T):
    with th.change_flags(compute_test_value="raise"):
        x = T.dmatrix("x")
        return x * 2


def case_nlinalg_slinalg(th, T):
    a, m = T.dmatrix("a"), T.dmatrix("m")
    b, v = T.dmatrix("b"), T.dvector("v")
    import importlib
    nl = importlib.import_module(th.__name__ + ".tensor.nlinalg")
    sl = importlib.import_module(th.__name__ + ".tensor.slinalg")
    outs = [nl.matrix_inverse(a), nl.det(a), nl.diag(m), nl.diag(v), nl.trace(m),
            nl.matrix_dot(a, m, m.T), sl.solve(a, b), sl.solve(a, v)]
    cost = sum((o ** 2).sum() for o in outs)
    av = np.array([[2., 0.5, 0.1], [0.3, 3., -0.2], [0.1, 0.4, 1.5]])
    return _f(th, [a, m, b, v], outs + T.grad(cost, [a, m, b, v]), av, _r(3, 3),
              _r(3, 2, seed=1), _r(3, seed=2))
