"""Random streams: the MRG31k3p kernels against a naive per-number reference, graph semantics
(default updates, no merging or folding, gradients, pickling) and RandomStreams' seeding."""
import pickle

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.graph import toposort
from symconv.ops import mrg
from symconv.ops.random import (choice_from_uniform, mrg_uniform, mrg_uniform_state,
                                multinomial_from_uniform, permute_row_elements)
from symconv.rewrite import rewrite_graph
from symconv.sandbox.rng_mrg import MRG_RandomStreams, guess_n_streams
from symconv.tensor.shared_randomstreams import RandomStreams
from tests.util import check_grad


def naive_next(state: list[int]) -> int:
    """Theano's mrg_next_value in int32 arithmetic, one number; updates ``state``."""
    i32 = np.int32
    x11, x12, x13, x21, x22, x23 = (i32(v) for v in state)
    with np.errstate(over="ignore"):
        y1 = ((x12 & i32(511)) << i32(22)) + (x12 >> i32(9)) + \
            ((x13 & i32(16777215)) << i32(7)) + (x13 >> i32(24))
        if y1 < 0 or y1 >= mrg.M1:
            y1 -= i32(mrg.M1)
        y1 += x13
        if y1 < 0 or y1 >= mrg.M1:
            y1 -= i32(mrg.M1)
        x13, x12, x11 = x12, x11, y1
        y1 = ((x21 & i32(65535)) << i32(15)) + i32(21069) * (x21 >> i32(16))
        if y1 < 0 or y1 >= mrg.M2:
            y1 -= i32(mrg.M2)
        y2 = ((x23 & i32(65535)) << i32(15)) + i32(21069) * (x23 >> i32(16))
        if y2 < 0 or y2 >= mrg.M2:
            y2 -= i32(mrg.M2)
        y2 += x23
        if y2 < 0 or y2 >= mrg.M2:
            y2 -= i32(mrg.M2)
        y2 += y1
        if y2 < 0 or y2 >= mrg.M2:
            y2 -= i32(mrg.M2)
        x23, x22, x21 = x22, x21, y2
    state[:] = [int(v) for v in (x11, x12, x13, x21, x22, x23)]
    return int(x11 - x21 + mrg.M1) if x11 <= x21 else int(x11 - x21)


def naive_draws(rstate: np.ndarray, n: int) -> tuple[list[int], np.ndarray]:
    rows = [list(map(int, r)) for r in rstate]
    out = [naive_next(rows[i % len(rows)]) for i in range(n)]
    return out, np.array(rows, np.int32)


def naive_matvec(a, s, m):
    return [sum((int(s[j]) * a[i][j]) % m for j in range(3)) % m for i in range(3)]


@pytest.mark.parametrize("streams,n", [(1, 1), (1, 50), (3, 10), (5, 17), (16, 100), (7, 0)])
@pytest.mark.parametrize("lanes", [1 << 16, 4])
def test_raw_draws_and_advance_match_naive(streams, n, lanes, monkeypatch):
    monkeypatch.setattr(mrg, "_LANES", lanes)   # 4 lanes: every stream cut into blocks
    rstate = mrg.substream_states(np.array([12345] * 6, np.int32), streams)
    want, state_after = naive_draws(rstate, n)
    assert mrg.raw_draws(rstate, n).tolist() == want
    for dtype in ("float32", "float64"):   # scaled inside the loop = scaled afterwards
        np.testing.assert_array_equal(mrg.raw_draws(rstate, n, dtype),
                                      mrg.scale(np.array(want, np.uint64), dtype))
    np.testing.assert_array_equal(mrg.advance(rstate, n), state_after)


def test_substreams_are_2p72_jumps_with_theanos_matrices():
    # the jump matrices Theano 1.0.5 hard-codes (A1p72, A2p72 first rows), from the paper
    assert mrg.A1P72[0] == (1516919229, 758510237, 499121365)
    assert mrg.A2P72[0] == (1228857673, 1496414766, 954677935)
    assert mrg.A1P134[0] == (1702500920, 1849582496, 1656874625)
    seed = np.array([1, 2, 3, 4, 5, 6], np.int32)
    rows = mrg.substream_states(seed, 11)
    prev = [int(v) for v in seed]
    for row in rows[1:]:
        prev = naive_matvec(mrg.A1P72, prev[:3], mrg.M1) + \
            naive_matvec(mrg.A2P72, prev[3:], mrg.M2)
        assert row.tolist() == prev


def test_scale_ranges_and_dtypes():
    raw = np.array([1, mrg.M1 // 2, mrg.M1])
    assert mrg.scale(raw, "float64").tolist() == [r * 2.0 ** -31 for r in raw]
    f32 = mrg.scale(raw, "float32")
    assert f32.dtype == np.float32 and 0 < f32.min() and f32.max() < 1   # never 0 or 1
    assert mrg.scale(raw, "float16").dtype == np.float16
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        mrg.scale(raw, "int32")


def test_guess_n_streams():
    assert [guess_n_streams(s) for s in [(1,), (6,), (7,), (13,), (3, 4, 5), (10 ** 6,)]] == \
        [1, 6, 1, 2, 10, 60 * 256]
    assert guess_n_streams(T.ivector().shape) == 60 * 256


def test_uniform_calls_advance_and_match_naive():
    r = MRG_RandomStreams(42)
    u = r.uniform((4, 5), dtype="float64")
    state = r.state_updates[0][0]
    start = state.get_value()
    f = symconv.function([], u)
    first, second = f(), f()
    want, after_first = naive_draws(start, 20)
    np.testing.assert_array_equal(first.ravel(), np.array(want) * 2.0 ** -31)
    np.testing.assert_array_equal(mrg.advance(start, 20), after_first)
    # the second call continues each stream where the first stopped
    want, after_second = naive_draws(after_first, 20)
    np.testing.assert_array_equal(second.ravel(), np.array(want) * 2.0 ** -31)
    np.testing.assert_array_equal(state.get_value(), after_second)


def test_symbolic_size_and_dtype_rules():
    r = MRG_RandomStreams(3)
    x = T.matrix()
    u = r.uniform(x.shape, ndim=2)
    assert u.dtype == "float64" and u.ndim == 2
    assert symconv.function([x], u)(np.zeros((3, 2))).shape == (3, 2)
    with symconv.config.change_flags(floatX="float32"):
        assert r.uniform((2,)).dtype == "float32"
        assert r.uniform((2,), low=np.float64(0)).dtype == "float64"
        assert r.normal((2, 3)).dtype == "float32"
    assert r.binomial((3,), p=0.5).dtype == "int64"
    assert r.uniform((1, 4)).broadcastable == (True, False)
    n = T.lscalar()
    u = r.uniform((n, 1), dtype="float64")
    assert u.broadcastable == (False, True)
    v = T.dvector()
    assert symconv.function([n, v], u + v)(3, np.zeros(5)).shape == (3, 5)


def test_bad_arguments_raise_clearly():
    with pytest.raises(ValueError, match="seed should not be 0"):
        MRG_RandomStreams(0)
    with pytest.raises(TypeError, match="1 integer or 6 integers"):
        MRG_RandomStreams([1, 2, 3])
    r = MRG_RandomStreams()
    with pytest.raises(ValueError, match="<= 0"):
        r.uniform((3, 0))
    with pytest.raises(TypeError, match="size must be"):
        r.uniform([3, 4])
    with pytest.raises(TypeError, match="dtype must be"):
        r.uniform((3,), dtype="int32")
    with pytest.raises(NotImplementedError):
        r.binomial((3,), n=2)


def test_draws_are_never_merged_or_folded():
    r = MRG_RandomStreams(9)
    a, b = r.uniform((5,)), r.uniform((5,))
    va, vb = symconv.function([], [a, b])()
    assert not np.array_equal(va, vb)
    # two draws from one state are equal computations, yet stay two nodes, and a draw from
    # a constant state is not folded into a constant
    state = symconv.tensor.constant(mrg.substream_states(np.array([7] * 6, np.int32), 2))
    size = symconv.tensor.constant(np.array([4], np.int64))
    x = mrg_uniform(state, size, dtype="float64", ndim=1)
    y = mrg_uniform(state, size, dtype="float64", ndim=1)
    s = mrg_uniform_state(state, size, ndim=1)
    out = rewrite_graph([x + y, s])
    names = [n.op.name for n in toposort(out)]
    assert names.count("mrg_uniform") == 2 and names.count("mrg_uniform_state") == 1


def test_gradients_through_draws_are_zero():
    r = MRG_RandomStreams(1)
    w = symconv.shared(np.linspace(-1, 1, 6))
    lo = T.dscalar()
    u = r.uniform((6,), low=lo, high=2.0)
    cost = T.sum(w * u)
    g_w, g_lo = T.grad(cost, [w, lo], disconnected_inputs="ignore")
    f = symconv.function([lo], [u, g_w, g_lo])
    u_val, g_w_val, g_lo_val = f(0.5)
    np.testing.assert_array_equal(g_w_val, u_val)     # d(w . u)/dw is this call's u
    assert g_lo_val == 0


def test_draws_inside_a_function_with_updates():
    # a dropout-style step: the mask and the SGD update come from the same call
    r = MRG_RandomStreams(2718)
    w = symconv.shared(np.ones(8))
    x = T.dvector()
    mask = r.binomial((8,), p=0.5, dtype="float64")
    cost = T.sum((w * mask * x) ** 2)
    step = symconv.function([x], [mask, cost], updates=[(w, w - 0.1 * T.grad(cost, w))])
    state = r.state_updates[0][0]
    xv = np.arange(1.0, 9.0)
    for _ in range(3):
        start, w_before = state.get_value(), w.get_value()
        m, c = step(xv)
        u_ref = np.array(naive_draws(start, 8)[0]) * 2.0 ** -31
        np.testing.assert_array_equal(m, (u_ref < 0.5).astype(float))
        assert c == pytest.approx(np.sum((w_before * m * xv) ** 2))
        np.testing.assert_allclose(w.get_value(), w_before - 0.2 * w_before * (m * xv) ** 2)
        np.testing.assert_array_equal(state.get_value(), mrg.advance(start, 8))


def test_default_update_and_no_default_updates():
    s = symconv.shared(np.float64(0.0))
    s.default_update = s + 1
    t = symconv.shared(np.float64(10.0))
    t.default_update = t * 2
    out = s + t
    symconv.function([], out)()
    assert (s.get_value(), t.get_value()) == (1.0, 20.0)
    symconv.function([], out, updates=[(s, s - 5)])()       # an explicit update wins
    assert (s.get_value(), t.get_value()) == (-4.0, 40.0)
    symconv.function([], out, no_default_updates=True)()
    assert (s.get_value(), t.get_value()) == (-4.0, 40.0)
    symconv.function([], out, no_default_updates=[t])()
    assert (s.get_value(), t.get_value()) == (-3.0, 40.0)
    # a default update's own graph brings in the default updates it reads
    u = symconv.shared(np.float64(1.0))
    u.default_update = u + 100
    s.default_update = s + u
    symconv.function([], s)()
    assert (s.get_value(), u.get_value()) == (-2.0, 101.0)


@pytest.mark.parametrize("streams", [MRG_RandomStreams, RandomStreams])
def test_copy_without_updates_keeps_the_streams_default_updates(streams):
    # Theano 1.0.5: copy(delete_updates=True) drops the explicit updates only; the draws of
    # the copy still advance the stream (checked under Theano with both stream classes)
    r, c = streams(7), symconv.shared(np.float64(0.0))
    f = symconv.function([], r.uniform((3,)), updates=[(c, c + 1)])
    g = f.copy(delete_updates=True)
    first, second = g()[0], g()[0]   # a copy returns a list even of one output, as Theano's
    assert not np.array_equal(first, second)
    assert c.get_value() == 0.0
    fresh = symconv.function([], streams(7).uniform((3,)))
    np.testing.assert_array_equal(first, fresh())
    np.testing.assert_array_equal(second, fresh())


def test_no_default_updates_repeats_draws():
    r = MRG_RandomStreams(5)
    u = r.uniform((3,))
    g = symconv.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(g(), g())


def test_pickled_function_keeps_the_stream():
    r = MRG_RandomStreams(77)
    f = symconv.function([], r.normal((3, 2)))
    f()
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(f(), g())
    np.testing.assert_array_equal(f(), g())
    r2 = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(r2.state_updates[0][0].get_value(),
                                  r.state_updates[0][0].get_value())


def test_reseed_restarts_streams():
    r = MRG_RandomStreams(8)
    f = symconv.function([], [r.uniform((4,)), r.normal((3,))])
    a = f()
    f()
    r.seed()
    b = f()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_normal_moments_and_truncation():
    r = MRG_RandomStreams(10)
    z = symconv.function([], r.normal((20001,), avg=2.0, std=3.0))()
    assert z.shape == (20001,)
    assert abs(z.mean() - 2.0) < 0.1 and abs(z.std() - 3.0) < 0.1
    t = symconv.function([], r.truncated_normal((20000,), std=1.0))()
    assert np.abs(t).max() <= 2.0 / 0.87962566103423978 + 1e-12
    assert abs(t.std() - 1.0) < 0.03   # the rescale keeps the asked-for spread


def naive_multinomial(pvals, unis, n):
    z = np.zeros(pvals.shape, np.int64)
    rows = pvals.shape[0]
    for c in range(n):
        for i in range(rows):
            acc = 0.0
            for m in range(pvals.shape[1]):
                acc += float(pvals[i, m])
                if acc > unis[c * rows + i]:
                    z[i, m] += 1
                    break
    return z


def naive_choice(pvals, unis, n):
    p = pvals.astype(np.float64).copy()
    rows = p.shape[0]
    z = -np.ones((rows, n), np.int64)
    for c in range(n):
        for i in range(rows):
            acc = 0.0
            for m in range(p.shape[1]):
                acc += p[i, m]
                if acc > unis[c * rows + i]:
                    z[i, c] = m
                    p[i, m] = 0
                    p[i] /= p[i].sum()
                    break
    return z


def test_multinomial_and_choice_kernels_match_naive_loops(rng):
    pvals = rng.dirichlet(np.ones(6), size=5)
    unis = rng.random(5 * 4)
    P, U = T.dmatrix(), T.dvector()
    multi = symconv.function([P, U], multinomial_from_uniform(P, U, 4, odtype="int64"))
    np.testing.assert_array_equal(multi(pvals, unis), naive_multinomial(pvals, unis, 4))
    pick = symconv.function([P, U], choice_from_uniform(P, U, 4, odtype="int64",
                                                       replace=False))
    got = pick(pvals, unis)
    np.testing.assert_array_equal(got, naive_choice(pvals, unis, 4))
    assert all(len(set(row)) == 4 for row in got.tolist())


def test_permute_row_elements_values_and_grad(rng):
    x = rng.standard_normal((3, 5))
    perm = np.stack([rng.permutation(5) for _ in range(3)])
    X = T.dmatrix()
    f = symconv.function([X], permute_row_elements(X, perm))
    np.testing.assert_array_equal(f(x), np.take_along_axis(x, perm, axis=1))
    g = symconv.function([X], permute_row_elements(X, perm, inverse=True))
    np.testing.assert_array_equal(np.take_along_axis(g(x), perm, axis=1), x)
    check_grad(lambda v: permute_row_elements(v, perm), [x])
    check_grad(lambda v: permute_row_elements(v, perm[0]), [x])


# ---- RandomStreams (NumPy RandomState) -----------------------------------------------------

def test_randomstreams_seeding_scheme_and_rng_value():
    srng = RandomStreams(seed=234)
    rv = srng.uniform((2, 3), dtype="float64")
    rv_n = srng.normal((4,), dtype="float64")
    f = symconv.function([], [rv, rv_n])
    master = np.random.RandomState(234)
    ref_u = np.random.RandomState(master.randint(2 ** 30))
    ref_n = np.random.RandomState(master.randint(2 ** 30))
    for _ in range(2):
        u, n = f()
        np.testing.assert_array_equal(u, ref_u.uniform(0.0, 1.0, (2, 3)))
        np.testing.assert_array_equal(n, ref_n.normal(0.0, 1.0, (4,)))
    state = rv.rng.get_value()
    assert isinstance(state, np.random.RandomState)
    assert state.get_state()[2] == ref_u.get_state()[2]
    state.seed(89234)
    rv.rng.set_value(state)
    np.testing.assert_array_equal(f()[0], np.random.RandomState(89234).uniform(0, 1, (2, 3)))


def test_randomstreams_reseed_and_methods():
    srng = RandomStreams(seed=1)
    draws = [srng.random_integers((50,), low=2, high=5), srng.permutation((3,), n=4),
             srng.multinomial((2,), n=7, pvals=[0.5, 0.5]), srng.choice((6,), a=3),
             srng.binomial((5,), n=3, p=0.4), srng.poisson((4,), lam=3.0)]
    f = symconv.function([], draws)
    first = f()
    ints, perms, multi, choice, binom, pois = first
    assert ints.min() >= 2 and ints.max() <= 5 and set(ints.tolist()) == {2, 3, 4, 5}
    assert perms.shape == (3, 4) and all(sorted(p) == [0, 1, 2, 3] for p in perms.tolist())
    assert multi.shape == (2, 2) and (multi.sum(axis=1) == 7).all()
    assert choice.max() < 3 and binom.max() <= 3
    master = np.random.RandomState(1)
    seeds = [master.randint(2 ** 30) for _ in range(6)]
    np.testing.assert_array_equal(pois, np.random.RandomState(seeds[5]).poisson(3.0, (4,)))
    srng.seed()
    for a, b in zip(first, f()):
        np.testing.assert_array_equal(a, b)


def test_shuffle_row_elements_permutes_each_row():
    srng = RandomStreams(seed=3)
    x = T.dmatrix()
    f = symconv.function([x], srng.shuffle_row_elements(x))
    a = np.arange(20.0).reshape(4, 5)
    shuffled = srng.shuffle_row_elements(x)
    out, perm = symconv.function([x], [shuffled, shuffled.permutation])(a)
    np.testing.assert_array_equal(np.sort(out, axis=1), a)
    np.testing.assert_array_equal(out, np.take_along_axis(a, perm, axis=1))
    assert not np.array_equal(out, a) and not np.array_equal(f(a), a)


def test_randomstreams_draw_state_pickles():
    srng = RandomStreams(seed=5)
    f = symconv.function([], srng.normal((3,)))
    f()
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(f(), g())


def test_fma_rounds_once_like_the_c_compiler(rng):
    from fractions import Fraction
    from symconv.ops.random import fma, fma_kernel
    a, b, c = (rng.standard_normal(500) * 10.0 ** rng.integers(-3, 4, 500) for _ in range(3))
    exact = [float(Fraction(x) * Fraction(y) + Fraction(z)) for x, y, z in zip(a, b, c)]
    np.testing.assert_array_equal(fma_kernel(np, a, b, c), exact)
    a32, b32, c32 = a.astype(np.float32), b.astype(np.float32), c.astype(np.float32)
    exact32 = np.array([float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                        for x, y, z in zip(a32, b32, c32)]).astype(np.float32)
    np.testing.assert_array_equal(fma_kernel(np, a32, b32, c32), exact32)
    check_grad(lambda x, y, z: fma(x, y, z), [a[:4].reshape(2, 2), b[:2], c[:1].reshape(())])


def test_box_muller_ops():
    from symconv.ops.random import box_muller, box_muller_truncated
    u = np.random.default_rng(3).random(2000)
    u1, u2 = u[:1000], u[1000:]
    U1, U2, UF = T.dvector(), T.dvector(), T.dvector()
    z = symconv.function([U1, U2], box_muller(U1, U2))(u1, u2)
    r = np.sqrt(-2 * np.log(u1))
    np.testing.assert_allclose(z, np.concatenate([r * np.cos(2 * np.pi * u2),
                                                  r * np.sin(2 * np.pi * u2)]), rtol=1e-13)
    n_bad = int((np.abs(z) > 2).sum())
    trunc = symconv.function([U1, U2, UF], box_muller_truncated(U1, U2, UF))
    t = trunc(u1, u2, np.random.default_rng(4).uniform(np.exp(-2), 1, n_bad))
    assert t.shape == z.shape and np.abs(t).max() <= 2
    np.testing.assert_array_equal(t[:1000 - int((np.abs(z[:1000]) > 2).sum())],
                                  z[:1000][np.abs(z[:1000]) <= 2])
    with pytest.raises(ValueError, match="redraws"):
        trunc(u1, u2, np.full(n_bad + 1, 0.5))


def test_rs_draw_and_rs_state_recompute_without_the_cache():
    from symconv.ops import random as R
    from symconv.ops.random_numpy import encode_state
    srng = RandomStreams(seed=12)
    rv = srng.normal((5,), dtype="float64")
    assert rv.owner.op.name == "rs_draw" and rv.rng.default_update.owner.op.name == "rs_state"
    ref = rv.rng.get_value()
    R._AFTER.clear()   # the state op alone must draw again to know the next state
    new_state = symconv.function([], rv.rng.default_update, no_default_updates=True)()
    expected = ref.normal(0.0, 1.0, (5,))
    np.testing.assert_array_equal(new_state, encode_state(ref))
    np.testing.assert_array_equal(symconv.function([], rv)(), expected)
    np.testing.assert_array_equal(rv.rng.get_value(borrow=True, return_internal_type=True),
                                  encode_state(ref))


def test_random_page_example_runs():
    import re
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / "docs" / "random.md").read_text()
    code = re.findall(r"```python\n(.*?)```", page, re.DOTALL)[0]
    scope: dict = {}
    exec(compile(code, "docs/random.md", "exec"), scope)  # noqa: S102  (the page's example)
    a, b = scope["corrupt"](np.ones((2, 3), "float32")), scope["corrupt"](np.ones((2, 3),
                                                                                  "float32"))
    assert set(np.unique(np.concatenate([a, b]))) <= {0.0, 1.0} and not np.array_equal(a, b)


@pytest.mark.parametrize("mode", ["DebugMode", "FAST_COMPILE"])
def test_every_draw_has_its_inferred_type(mode):
    # DebugMode checks each node's value against its inferred dtype and static shape
    r, s = MRG_RandomStreams(4), RandomStreams(seed=4)
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], "float32")
    draws = [r.uniform((3, 1), dtype="float16"), r.uniform((2,), low=1.0, high=3.0),
             r.normal((5,), dtype="float32"), r.truncated_normal((7,)), r.binomial((4,)),
             r.multinomial(pvals=p, n=2), r.choice(size=2, replace=False, p=p),
             s.uniform((2, 2)), s.permutation((2,), n=3), s.multinomial((2,), n=4),
             s.random_integers((3,), low=1, high=6), s.choice((2,), a=5, replace=False)]
    values = symconv.function([], draws, mode=mode)()
    for var, value in zip(draws, values):
        assert value.dtype == var.dtype and value.ndim == var.ndim
        assert all(a is None or a == b for a, b in zip(var.type.shape, value.shape))


def test_mrg_cuda_kernel_compiles_with_nvrtc():
    nvrtc = pytest.importorskip("symconv.backends.cuda.nvrtc")
    try:
        nvrtc.version()
    except nvrtc.NvrtcUnavailable as err:
        pytest.skip(f"libnvrtc cannot be loaded ({err})")
    from symconv.backends.cuda.random import mrg_uniform_source
    sources = [mrg_uniform_source(d) for d in ("float32", "float64")]
    assert len({name for name, _ in sources}) == 2
    assert nvrtc.compile_many(sources) == 2
