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
