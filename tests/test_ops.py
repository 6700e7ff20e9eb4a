"""Non-elementwise core ops: reductions, shape ops, indexing, dot, softmax; forward and grads."""
import numpy as np
import pytest

import symconv.tensor as T
from symconv.graph import DISCRETE_DTYPES
from tests.util import check_grad, run


def _tiefree(rng, shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 1.0


# ---- reductions ---------------------------------------------------------------------------

AXES = [None, 0, 1, 2, (0, 2), (1, 2), -1]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "argmax", "argmin"])
def test_reduction_forward(name, axis, keepdims, rng):
    x = T.tensor3("x")
    xv = _tiefree(rng, (2, 3, 4))
    out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
    if name in ("argmax", "argmin") and isinstance(axis, tuple):
        # Theano's rule: the reduced axes are moved last and flattened into one
        kept = [a for a in range(3) if a not in axis]
        flat = xv.transpose(kept + list(axis)).reshape([xv.shape[a] for a in kept] + [-1])
        want = getattr(np, name)(flat, axis=-1)
        if keepdims:
            want = np.expand_dims(want, axis)
    else:
        want = getattr(np, name)(xv, axis=axis, keepdims=keepdims)
    got = run([x], out, [xv])
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean"])
def test_reduction_grad(name, axis, rng):
    xv = _tiefree(rng, (2, 3, 4)) + (3.0 if name == "prod" else 0.0)
    check_grad(lambda x: getattr(T, name)(x, axis=axis), [xv])
    check_grad(lambda x: getattr(T, name)(x, axis=axis, keepdims=True), [xv])


def test_max_gradient_goes_to_every_tied_element():
    x = T.vector("x")
    g = T.grad(T.max(x), x)
    np.testing.assert_array_equal(run([x], g, [np.array([1.0, 3.0, 3.0, 2.0])]), [0, 1, 1, 0])


def test_argmax_over_several_axes_flattens_them():
    x = T.tensor3("x")
    xv = np.random.default_rng(0).normal(size=(2, 3, 4))
    got = run([x], T.argmax(x, axis=(1, 2)), [xv])
    np.testing.assert_array_equal(got, xv.reshape(2, -1).argmax(axis=1))


SUM_DTYPES = [("int8", "int64"), ("int32", "int64"), ("uint8", "uint64"), ("bool", "int64"),
              ("float32", "float32"), ("float64", "float64")]


@pytest.mark.parametrize("dtype,want", SUM_DTYPES)
def test_sum_dtype_table(dtype, want):
    x = T.vector(dtype=dtype)
    assert T.sum(x).dtype == want
    assert run([x], T.sum(x), [np.ones(3, dtype)]).dtype == want


MEAN_DTYPES = [("int8", "float64"), ("int32", "float64"), ("float32", "float32"),
               ("float64", "float64")]


@pytest.mark.parametrize("dtype,want", MEAN_DTYPES)
def test_mean_dtype_table(dtype, want):
    x = T.matrix(dtype=dtype)
    out = T.mean(x, axis=0)
    assert out.dtype == want
    got = run([x], out, [np.arange(6).reshape(2, 3).astype(dtype)])
    assert got.dtype == want
    np.testing.assert_allclose(got, [1.5, 2.5, 3.5])


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_any_all(axis, rng):
    x = T.matrix("x")
    xv = rng.normal(size=(3, 4))
    xv[0] = 1.0     # a row of all True and a column with a mix
    got = run([x], [T.any(x > 0, axis=axis), T.all(x > 0, axis=axis)], [xv])
    np.testing.assert_array_equal(got[0], np.any(xv > 0, axis=axis))
    np.testing.assert_array_equal(got[1], np.all(xv > 0, axis=axis))


def test_var_std(rng):
    x = T.matrix("x")
    xv = rng.normal(size=(4, 5))
    got = run([x], [T.var(x, axis=0), T.std(x, axis=1, ddof=1), x.var()], [xv])
    np.testing.assert_allclose(got[0], xv.var(axis=0))
    np.testing.assert_allclose(got[1], xv.std(axis=1, ddof=1))
    np.testing.assert_allclose(got[2], xv.var())


def test_reduction_axis_errors():
    x = T.matrix("x")
    with pytest.raises(ValueError, match="axis 2 is out of range for a 2-d input"):
        T.sum(x, axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        T.sum(x, axis=(0, 0))

# ---- shape ops ----------------------------------------------------------------------------


def test_dimshuffle_forward_grad_and_errors(rng):
    x = T.matrix("x")
    xv = rng.normal(size=(3, 4))
    out = x.dimshuffle(1, "x", 0)
    assert out.broadcastable == (False, True, False)
    np.testing.assert_allclose(run([x], out, [xv]), xv.T[:, None, :])
    check_grad(lambda v: v.dimshuffle(1, "x", 0) * 2, [xv])
    row = T.row("r")
    assert row.dimshuffle(1).ndim == 1
    with pytest.raises(ValueError, match="drops axis 0 .* not broadcastable"):
        x.dimshuffle(1)
    with pytest.raises(ValueError, match="invalid pattern"):
        x.dimshuffle(0, 0)


def test_broadcast_gradient_of_dimshuffled_bias(rng):
    check_grad(lambda bb, xx: T.sum(T.tanh(xx + bb.dimshuffle("x", 0))),
               [rng.normal(size=3), rng.normal(size=(4, 3))])


def test_transpose_and_T(rng):
    x = T.tensor3("x")
    xv = rng.normal(size=(2, 3, 4))
    got = run([x], [x.T, T.transpose(x, (1, 0, 2)), x.transpose(2, 0, 1)], [xv])
    np.testing.assert_allclose(got[0], xv.T)
    np.testing.assert_allclose(got[1], xv.transpose(1, 0, 2))
    np.testing.assert_allclose(got[2], xv.transpose(2, 0, 1))


def test_reshape_constant_symbolic_and_static_shapes(rng):
    x = T.matrix("x")
    n = T.lscalar("n")
    xv = rng.normal(size=(4, 6))
    outs = [x.reshape((3, 8)), x.reshape((-1, 2)), T.reshape(x, (n, -1)),
            x.reshape(x.shape[::-1]), x.reshape((2, n * 2, 3))]
    got = run([x, n], outs, [xv, 2])
    np.testing.assert_allclose(got[0], xv.reshape(3, 8))
    np.testing.assert_allclose(got[1], xv.reshape(-1, 2))
    np.testing.assert_allclose(got[2], xv.reshape(2, -1))
    np.testing.assert_allclose(got[3], xv.reshape(6, 4))
    np.testing.assert_allclose(got[4], xv.reshape(2, 4, 3))
    fixed = T.TensorType("float64", shape=(4, 6))("f")
    assert fixed.reshape((-1, 3)).type.shape == (8, 3)
    with pytest.raises(ValueError, match="cannot reshape"):
        fixed.reshape((5, 5))
    check_grad(lambda v: v.reshape((2, 12)) ** 2, [xv])


def test_flatten(rng):
    x = T.tensor4("x")
    xv = rng.normal(size=(2, 3, 4, 5))
    got = run([x], [x.flatten(), x.flatten(2), T.flatten(x, outdim=3)], [xv])
    np.testing.assert_allclose(got[0], xv.reshape(-1))
    np.testing.assert_allclose(got[1], xv.reshape(2, -1))
    np.testing.assert_allclose(got[2], xv.reshape(2, 3, -1))
    check_grad(lambda v: v.flatten(2) ** 2, [xv])


def test_concatenate_and_stack(rng):
    a, b = T.matrix("a"), T.matrix("b")
    av, bv = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    got = run([a, b], [T.concatenate([a, b]), T.concatenate([a.T, b.T], axis=1)], [av, bv])
    np.testing.assert_allclose(got[0], np.concatenate([av, bv]))
    np.testing.assert_allclose(got[1], np.concatenate([av.T, bv.T], axis=1))
    check_grad(lambda p, q: T.concatenate([p, q]) ** 2, [av, bv])
    s, t = T.scalar("s"), T.scalar("t")
    np.testing.assert_allclose(run([s, t], T.stack([s, t, 2.0]), [1.0, 3.0]), [1, 3, 2])
    np.testing.assert_allclose(run([a], T.stack(a, a, axis=1), [av]), np.stack([av, av], 1))
    with pytest.raises(ValueError, match="differ in size along axis 1"):
        T.concatenate([T.TensorType("float64", shape=(2, 3))(), T.TensorType("float64",
                                                                              shape=(2, 4))()])


def test_shape_arange_alloc_zeros_like(rng):
    x = T.matrix("x")
    n = T.lscalar("n")
    xv = rng.normal(size=(3, 5))
    got = run([x, n], [x.shape, x.shape[1], T.arange(n), T.arange(1, n, 2), T.zeros_like(x),
                       T.ones_like(x, dtype="int32"), T.alloc(2.0, n, 2), T.zeros((n, 3)),
                       T.arange(0.5, 2.0, 0.5)], [xv, 5])
    np.testing.assert_array_equal(got[0], [3, 5])
    assert got[1] == 5
    np.testing.assert_array_equal(got[2], np.arange(5))
    np.testing.assert_array_equal(got[3], np.arange(1, 5, 2))
    np.testing.assert_array_equal(got[4], np.zeros((3, 5)))
    assert got[5].dtype == np.int32 and (got[5] == 1).all()
    np.testing.assert_array_equal(got[6], np.full((5, 2), 2.0))
    np.testing.assert_array_equal(got[7], np.zeros((5, 3)))
    np.testing.assert_allclose(got[8], [0.5, 1.0, 1.5])
    assert T.arange(n).dtype == "int64"
    check_grad(lambda v: T.alloc(v, 3, 4) * np.arange(12.0).reshape(3, 4),
               [rng.normal(size=(4,))])

# ---- indexing -----------------------------------------------------------------------------


def test_basic_indexing_with_symbolic_bounds(rng):
    x = T.matrix("x")
    i = T.lscalar("i")
    xv = rng.normal(size=(10, 4))
    bs = 3
    outs = [x[i * bs:(i + 1) * bs], x[i], x[:, i], x[-1], x[::2, 1:], x[i, ::-1],
            x[None, 1], x[..., 0], x[1:i]]
    got = run([x, i], outs, [xv, 1])
    wants = [xv[3:6], xv[1], xv[:, 1], xv[-1], xv[::2, 1:], xv[1, ::-1], xv[None, 1],
             xv[..., 0], xv[1:1]]
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w)
    check_grad(lambda v: v[1:3, ::2] ** 2, [xv])


def test_paired_advanced_indexing_for_nll(rng):
    p, y = T.matrix("p"), T.ivector("y")
    pv = rng.uniform(0.1, 1, size=(5, 3))
    yv = np.array([0, 2, 1, 1, 0], "int32")
    out = p[T.arange(y.shape[0]), y]
    np.testing.assert_allclose(run([p, y], out, [pv, yv]), pv[np.arange(5), yv])
    check_grad(lambda q: T.log(q[T.arange(5), T.constant(yv)]).mean(), [pv])


def test_advanced_index_shapes_follow_numpy(rng):
    x = T.tensor3("x")
    iv = T.lvector("iv")
    xv = rng.normal(size=(4, 5, 6))
    idx = np.array([3, 0, 2])
    cases = [(lambda a: a[iv], lambda a: a[idx]), (lambda a: a[:, iv], lambda a: a[:, idx]),
             (lambda a: a[iv, :, iv], lambda a: a[idx, :, idx]),
             (lambda a: a[1:3, iv, 2], lambda a: a[1:3, idx, 2])]
    for sym, ref in cases:
        out = sym(x)
        want = ref(xv)
        got = run([x, iv], out, [xv, idx])
        assert out.ndim == want.ndim
        np.testing.assert_allclose(got, want)


def test_set_and_inc_subtensor(rng):
    x, y = T.matrix("x"), T.vector("y")
    i = T.lscalar("i")
    xv, yv = rng.normal(size=(4, 3)), rng.normal(size=3)
    outs = [T.set_subtensor(x[i], y), T.inc_subtensor(x[1:3], y), T.set_subtensor(x[:, 0], 0.0),
            T.inc_subtensor(x[T.constant(np.array([0, 0, 2]))], y)]
    got = run([x, y, i], outs, [xv, yv, 2])
    w0, w1, w2, w3 = xv.copy(), xv.copy(), xv.copy(), xv.copy()
    w0[2] = yv
    w1[1:3] += yv
    w2[:, 0] = 0
    np.add.at(w3, np.array([0, 0, 2]), yv)
    for g, w in zip(got, [w0, w1, w2, w3]):
        np.testing.assert_allclose(g, w)
    np.testing.assert_allclose(xv, run([x], x, [xv]))  # inputs are never modified
    check_grad(lambda a, b: T.set_subtensor(a[1:3], b) ** 2, [xv, yv])
    check_grad(lambda a, b: T.inc_subtensor(a[np.array([0, 0, 2])], b) ** 2, [xv, yv])
    with pytest.raises(TypeError, match="must be an indexed tensor"):
        T.set_subtensor(x, y)


def test_index_errors():
    x = T.matrix("x")
    with pytest.raises(IndexError, match="too many indices"):
        x[1, 2, 3]
    with pytest.raises(TypeError, match="integer scalar"):
        x[T.scalar("f"):]
    assert x[x > 0].ndim == 1   # a boolean mask indexes as nonzero() (test_api_ops.py)
    fixed = T.TensorType("float64", shape=(3, 4))("f")
    with pytest.raises(IndexError, match="out of bounds"):
        fixed[5]

# ---- dot and softmax ----------------------------------------------------------------------


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 5)),
                                   ((4,), (4,))])
def test_dot_all_rank_combinations(sa, sb, rng):
    av, bv = rng.normal(size=sa), rng.normal(size=sb)
    a = T.TensorType("float64", shape=(None,) * len(sa))("a")
    b = T.TensorType("float64", shape=(None,) * len(sb))("b")
    np.testing.assert_allclose(run([a, b], T.dot(a, b), [av, bv]), np.dot(av, bv))
    check_grad(T.dot, [av, bv])


def test_dot_shape_error_names_both_shapes():
    a = T.TensorType("float64", shape=(3, 4))("a")
    b = T.TensorType("float64", shape=(5, 2))("b")
    with pytest.raises(ValueError, match=r"dot: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        T.dot(a, b)


def test_softmax_logsoftmax(rng):
    x = T.matrix("x")
    xv = rng.normal(size=(4, 5)) * 3
    e = np.exp(xv - xv.max(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    got = run([x], [T.nnet.softmax(x), T.nnet.logsoftmax(x)], [xv])
    np.testing.assert_allclose(got[0], sm)
    np.testing.assert_allclose(got[1], np.log(sm))
    check_grad(T.nnet.softmax, [xv])
    check_grad(T.nnet.logsoftmax, [xv])
    big = np.array([[1000.0, -1000.0, 0.0]])
    assert np.isfinite(run([x], T.nnet.logsoftmax(x), [big])).all()


def test_crossentropies(rng):
    p, y, t = T.matrix("p"), T.ivector("y"), T.matrix("t")
    pv = rng.uniform(0.05, 0.95, size=(4, 3))
    yv = np.array([0, 2, 1, 2], "int32")
    onehot = np.eye(3)[yv]
    got = run([p, y, t], [T.nnet.categorical_crossentropy(p, y),
                          T.nnet.categorical_crossentropy(p, t),
                          T.nnet.binary_crossentropy(p, t)], [pv, yv, onehot])
    np.testing.assert_allclose(got[0], -np.log(pv[np.arange(4), yv]))
    np.testing.assert_allclose(got[1], -np.log(pv[np.arange(4), yv]))
    np.testing.assert_allclose(got[2], -(onehot * np.log(pv) + (1 - onehot) * np.log(1 - pv)))
    check_grad(lambda q: T.nnet.binary_crossentropy(q, onehot), [pv])


def test_copy_is_a_new_array(rng):
    x = T.vector("x")
    xv = rng.normal(size=3)
    got = run([x], x.copy(), [xv])
    np.testing.assert_array_equal(got, xv)
    assert not np.shares_memory(got, xv)
    check_grad(lambda v: v.copy() ** 2, [xv])


def test_relu_and_hard_sigmoid(rng):
    x = T.vector("x")
    xv = np.array([-2.0, -0.1, 0.2, 3.0])
    got = run([x], [T.nnet.relu(x), T.nnet.relu(x, 0.1), T.nnet.hard_sigmoid(x)], [xv])
    np.testing.assert_allclose(got[0], np.maximum(xv, 0))
    np.testing.assert_allclose(got[1], np.where(xv > 0, xv, 0.1 * xv))
    np.testing.assert_allclose(got[2], np.clip(0.2 * xv + 0.5, 0, 1))
    check_grad(lambda v: T.nnet.relu(v, 0.1), [xv])


def _takes_no_float(op):
    """True when ``op`` refuses float inputs (bitwise ops), or yields a discrete result from
    them, or its kernel refuses them: either way no gradient can flow through it."""
    for n_in in (2, 1):
        try:
            out = op(*[T.vector(dtype="float64")] * n_in)
        except TypeError:
            continue
        if out.dtype in DISCRETE_DTYPES:
            return True
        try:
            op.kernel(np, *[np.ones(2)] * n_in, **out.owner.kw)
        except TypeError:
            return True
        return False
    return True   # it refuses float inputs: no float gradient can reach it


def test_every_op_has_its_rules():
    """Meta-test over the op registry: every op has a type rule and a kernel, and an op without
    a gradient rule (or expansion) declares itself not differentiable or cannot carry one."""
    from symconv.graph import OPS
    for name, op in OPS.items():
        assert callable(op.infer) and callable(op.kernel), name
        if not op.differentiable and not op.declared_not_differentiable:
            # no rule and no declaration: only right if no gradient can flow through the op
            assert _takes_no_float(op), f"{name} has no gradient rule"


# ops that exist only inside the graph machinery and are never compiled, each with its reason
NEVER_COMPILED = {"scan_seed": "a gradient marker that scan's gradient consumes before compiling"}


def test_every_registered_op_is_compiled_by_a_test(request):
    """Meta-test over the op registry: in a run of the whole suite (this test is moved last),
    every op was compiled into some function by some test (tests/conftest.py records them)."""
    from symconv.graph import OPS
    if not request.config.symconv_full_run:
        pytest.skip("needs the whole suite: it checks what the other tests compiled")
    user_ops = {name for name, op in OPS.items() if getattr(op, "user_defined", False)}
    missing = sorted(set(OPS) - request.config.symconv_compiled_ops - set(NEVER_COMPILED)
                     - user_ops)
    assert not missing, f"ops no test compiles: {missing}"
