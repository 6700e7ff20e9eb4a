"""The executor's memory decisions (buffer reuse, in-place updates, freeing at last use) never
change results; the profile and NaN guard instrumentation say where time and NaNs come from."""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv import schedule

UNARY = [T.tanh, T.exp, lambda a: -a, lambda a: a * 2, abs, T.sqr, lambda a: a.T.T,
         lambda a: a + 0, lambda a: T.cast(a, "float64"), lambda a: a.reshape((3, 4)),
         lambda a: a.flatten().reshape((3, 4)), lambda a: a[::-1]]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, T.maximum,
          lambda a, b: a / (1 + abs(b))]


def _random_function(seed: int, mode: str, reference: bool):
    """A random graph over two inputs and two shared matrices (read directly and through
    views), with outputs that may be intermediates or views, and SGD-like updates."""
    r = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.matrix("y")
    s = symconv.shared(np.linspace(-1, 1, 12).reshape(3, 4), "s")
    s2 = symconv.shared(np.linspace(2, 0, 12).reshape(3, 4), "s2")
    pool = [x, y, s, s.T.T, s[::-1], s2, s2.dimshuffle(1, 0).T]
    for _ in range(r.integers(3, 10)):
        if r.random() < 0.5:
            pool.append(UNARY[r.integers(len(UNARY))](pool[r.integers(len(pool))]))
        else:
            a, b = pool[r.integers(len(pool))], pool[r.integers(len(pool))]
            pool.append(BINARY[r.integers(len(BINARY))](a, b))
    outputs = [pool[-1]]
    if r.random() < 0.5:
        outputs.append(pool[r.integers(3, len(pool))])
    if r.random() < 0.3:
        outputs.append(pool[r.integers(len(pool))].T)
    value = pool[r.integers(2, len(pool))]
    updates = [(s, s - 0.1 * value)] if r.random() < 0.7 else [(s, value)]
    if r.random() < 0.5:
        updates.append((s2, s2 * 0.5 + pool[r.integers(len(pool))]))
    if reference:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(schedule, "plan_reuse", lambda *args: {})
            m.setattr(schedule, "plan_inplace", lambda *args: {})
            f = symconv.function([x, y], outputs, updates=updates, mode="FAST_COMPILE",
                                 on_unused_input="ignore")
    else:
        f = symconv.function([x, y], outputs, updates=updates, mode=mode,
                             on_unused_input="ignore")
    return f, (s, s2)


def _run(f, shared, xs, ys):
    """Per call: copies of the outputs, the outputs themselves, the shared values after it."""
    record = []
    for xv, yv in zip(xs, ys):
        x_before, y_before = xv.copy(), yv.copy()
        outs = f(xv, yv)
        np.testing.assert_array_equal(xv, x_before, err_msg="a function input was overwritten")
        np.testing.assert_array_equal(yv, y_before, err_msg="a function input was overwritten")
        record.append(([o.copy() for o in outs], outs, [p.get_value() for p in shared]))
    return record


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_reuse_and_in_place_never_change_results_on_random_graphs(mode):
    planned = [0, 0]
    with np.errstate(all="ignore"):
        for seed in range(60):
            data = np.random.default_rng(1000 + seed)
            xs, ys = data.normal(size=(2, 3, 3, 4))
            f, shared = _random_function(seed, mode, reference=False)
            planned[0] += bool(f.program.reuse)
            planned[1] += bool(f.program.inplace)
            ref, ref_shared = _random_function(seed, mode, reference=True)
            got, want = _run(f, shared, xs, ys), _run(ref, ref_shared, xs, ys)
            for (copies, outs, values), (want_outs, _, want_values) in zip(got, want):
                for a, b in zip(copies, want_outs):
                    np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"seed {seed}")
                for a, b in zip(values, want_values):
                    np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"seed {seed}")
            for copies, outs, _ in got:     # a later call never writes into a returned array
                for a, b in zip(copies, outs):
                    np.testing.assert_array_equal(a, b, err_msg=f"seed {seed}")
    assert planned[0] > 0 and planned[1] > 0, "the random graphs exercised no reuse/in-place"


def test_tutorial_mlp_step_float32_matches_fast_compile_over_calls():
    rng = np.random.default_rng(0)
    x_data = rng.normal(size=(4, 20, 30)).astype("float32")
    y_data = rng.integers(0, 5, (4, 20)).astype("int32")
    init = [rng.uniform(-0.3, 0.3, (30, 16)).astype("float32"), np.zeros(16, "float32"),
            rng.uniform(-0.3, 0.3, (16, 5)).astype("float32"), np.zeros(5, "float32")]
    runs = {}
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        x, y = T.fmatrix("x"), T.ivector("y")
        params = [symconv.shared(v.copy(), n) for v, n in zip(init, ["W", "b", "V", "c"])]
        W, b, V, c = params
        h = T.tanh(T.dot(x, W) + b)
        p_y = T.nnet.softmax(T.dot(h, V) + c)
        cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y]) + \
            0.001 * abs(W).sum() + 0.0001 * (V ** 2).sum()
        grads = T.grad(cost, params)
        f = symconv.function([x, y], cost, mode=mode,
                             updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)])
        if mode == "FAST_RUN":
            assert f.program.inplace
        runs[mode] = ([float(f(xb, yb)) for xb, yb in zip(x_data, y_data)],
                      [p.get_value() for p in params])
    np.testing.assert_allclose(runs["FAST_RUN"][0], runs["FAST_COMPILE"][0], rtol=1e-5)
    for a, b in zip(runs["FAST_RUN"][1], runs["FAST_COMPILE"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_intermediates_are_freed_at_their_last_use():
    x, w = T.matrix("x"), T.matrix("w")
    h = x
    for _ in range(8):      # dots are not fused: eight 2 MB intermediates in a chain
        h = T.dot(h, w)
    f = symconv.function([x, w], h.sum())
    assert "del " in f.program.source
    xv, wv = np.ones((500, 500)) / 500, np.eye(500)
    f(xv, wv)
    tracemalloc.start()
    try:
        f(xv, wv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3.5 * xv.nbytes, f"peak {peak} bytes: intermediates outlive their last use"


def test_in_place_update_reuses_the_shared_storage_across_calls():
    W = symconv.shared(np.ones((4, 3)), "W")
    g = T.matrix("g")
    f = symconv.function([g], updates=[(W, W - 0.5 * g)])
    storage = W.get_value(borrow=True)
    for _ in range(3):
        f(np.ones((4, 3)))
    assert W.get_value(borrow=True) is storage
    np.testing.assert_array_equal(storage, np.full((4, 3), -0.5))


def test_failing_kernel_before_in_place_writes_leaves_shared_untouched():
    W = symconv.shared(np.ones((2, 3)), "W")
    x, idx = T.matrix("x"), T.lvector("idx")
    picked = x[idx]                        # fails at run time on an out-of-range index
    f = symconv.function([x, idx], updates=[(W, W - picked.sum() * x)])
    assert f.program.inplace
    with pytest.raises(IndexError):
        f(np.ones((2, 3)), np.array([5]))
    np.testing.assert_array_equal(W.get_value(), np.ones((2, 3)))
    f(np.ones((2, 3)), np.array([0]))
    np.testing.assert_array_equal(W.get_value(), np.full((2, 3), -2.0))


def test_profile_summary_has_ops_nodes_schedule_form_and_runtime_shapes():
    x, w = T.matrix("x"), T.matrix("w")
    f = symconv.function([x, w], T.tanh(T.dot(x, w) + 1).sum(), profile=True)
    for _ in range(3):
        f(np.ones((5, 4)), np.ones((4, 7)))
    text = f.profile.summary()
    assert "3 calls" in text and "Ops:" in text and "Nodes:" in text
    assert "v0 = dot(i0, i1)" in text and "(5, 4), (4, 7) -> (5, 7)" in text
    assert [name for _, _, name in f.profile.op_rows()].count("dot") == 1
    assert all(calls == 3 for _, calls, _ in f.profile.rows())


def test_profile_flag_prints_the_summary_at_exit():
    script = ("import numpy as np, symconv, symconv.tensor as T\n"
              "x = T.vector('x')\n"
              "f = symconv.function([x], T.exp(x).sum())\n"
              "f(np.ones(3))\n")
    env = dict(os.environ, SYMCONV_FLAGS="profile=True")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Profile of" in done.stderr and "1 calls" in done.stderr and "exp" in done.stderr


def test_nanguard_names_the_fused_step_input_shapes_and_user_line():
    x = T.matrix("x")
    y = T.exp(T.log(x) * 2) + 1        # fused into one node in NanGuardMode (FAST_RUN rewrites)
    f = symconv.function([x], y.sum(), mode="NanGuardMode")
    np.testing.assert_allclose(f(np.ones((2, 3))), 12.0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as err:
        f(-np.ones((2, 3)))
    text = str(err.value)
    assert "produced NaN" in text and "log(in0)" in text and "(2, 3)" in text
    assert "test_executor.py" in text


def test_nanguard_reports_inf_at_the_first_producing_node():
    x = T.vector("x")
    big = T.exp(x)
    f = symconv.function([x], [big, T.dot(big, big)], mode="NanGuardMode")
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"exp produced Inf"):
        f(np.array([1000.0, 0.0]))
