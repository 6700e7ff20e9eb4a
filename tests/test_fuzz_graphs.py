"""Property-based differential tests of the compiler: random elementwise / reduction / indexing /
dimshuffle graphs with several outputs and updates give the same values in FAST_RUN,
FAST_COMPILE and a plain NumPy interpretation of the same expression, and no returned array
aliases another returned array, a shared value or an earlier call's results."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import symconv
import symconv.tensor as T

# An expression is a nested tuple (op, *args); leaves are names of inputs and shared variables.
SHAPES = {"X": (3, 4), "Y": (3, 4), "Z": (4, 3), "v": (4,), "u": (3,), "s": (),
          "W": (3, 4), "b": (4,)}
SHARED = ("W", "b")
UNARY = ("tanh", "sigmoid", "neg", "abs", "sqr", "sin", "softplus", "exp_tanh", "log1p_sqr")
BINARY = ("add", "sub", "mul", "maximum", "minimum", "safe_div")
FAST = settings(max_examples=200, deadline=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _leaves(shape):
    return st.sampled_from([k for k, v in SHAPES.items() if v == shape])


def expr(shape, depth=2):
    """A strategy of expressions of the given result shape."""
    if depth == 0:
        return _leaves(shape)
    sub = lambda s: expr(s, depth - 1)  # noqa: E731
    options = [_leaves(shape),
               st.tuples(st.sampled_from(UNARY), sub(shape)),
               st.tuples(st.sampled_from(BINARY), sub(shape), sub(shape))]
    if len(shape) == 2:
        small = (shape[1],)
        options += [st.tuples(st.sampled_from(BINARY), sub(shape), sub(small)),   # row bcast
                    st.tuples(st.just("col"), sub(shape), sub((shape[0],))),     # col bcast
                    st.tuples(st.just("T"), sub(shape[::-1])),
                    st.tuples(st.just("flip"), sub(shape)),
                    st.tuples(st.just("take_rows"), sub(shape)),
                    st.tuples(st.just("inc_rows"), sub(shape), sub(small)),
                    st.tuples(st.just("set_cols"), sub(shape))]
    if len(shape) == 1:
        n = shape[0]
        other = 3 if n == 4 else 4
        mat = (n, other) if other == 3 else (other, n)
        axis = 1 if mat[0] == n else 0
        options += [st.tuples(st.sampled_from(("sum", "mean", "max")), st.just(axis), sub(mat)),
                    st.tuples(st.just("row_of"), sub((other, n))) if mat[1] == n else
                    st.tuples(st.just("col_of"), sub((n, other))),
                    st.tuples(st.just("flip"), sub(shape)),
                    st.tuples(st.just("inc_vec"), sub(shape), sub(())),
                    st.tuples(st.sampled_from(BINARY), sub(shape), sub(()))]
    if shape == ():
        options += [st.tuples(st.sampled_from(("sum", "mean", "max")), st.none(),
                              sub((3, 4))),
                    st.tuples(st.just("elem"), sub((4,)))]
    return st.one_of(*options)


def shape_of(e):
    """The shape of an expression's value."""
    if isinstance(e, str):
        return SHAPES[e]
    op, *args = e
    if op in ("sum", "mean", "max"):
        inner = shape_of(args[1])
        return () if args[0] is None else inner[:args[0]] + inner[args[0] + 1:]
    if op == "T":
        return shape_of(args[0])[::-1]
    if op == "row_of":
        return shape_of(args[0])[1:]
    if op == "col_of":
        return shape_of(args[0])[:1]
    if op == "elem":
        return ()
    shapes = [shape_of(a) for a in args]
    return max(shapes, key=len)


def evaluate(e, env, lib):
    """The expression over symbolic variables (lib=T) or arrays (lib=np)."""
    if isinstance(e, str):
        return env[e]
    op, *args = e
    sym = lib is T
    if op in ("sum", "mean", "max"):
        x = evaluate(args[1], env, lib)
        return getattr(lib, op)(x, axis=args[0])
    a = [evaluate(x, env, lib) for x in args]
    if op == "tanh":
        return lib.tanh(a[0])
    if op == "sigmoid":
        return T.nnet.sigmoid(a[0]) if sym else 1 / (1 + np.exp(-a[0]))
    if op == "softplus":
        return T.nnet.softplus(a[0]) if sym else np.logaddexp(0, a[0])
    if op == "neg":
        return -a[0]
    if op == "abs":
        return abs(a[0])
    if op == "sqr":
        return a[0] * a[0] if not sym else T.sqr(a[0])
    if op == "sin":
        return lib.sin(a[0])
    if op == "exp_tanh":
        return lib.exp(lib.tanh(a[0]))
    if op == "log1p_sqr":
        return lib.log(1 + a[0] ** 2)
    if op in ("add", "sub", "mul", "maximum", "minimum"):
        fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
              "mul": lambda x, y: x * y}.get(op) or getattr(lib, op)
        return fn(a[0], a[1])
    if op == "safe_div":
        return a[0] / (1 + a[1] * a[1])
    if op == "col":
        return a[0] + (a[1].dimshuffle(0, "x") if sym else a[1][:, None])
    if op == "T":
        return a[0].T
    if op == "flip":
        return a[0][::-1]
    if op == "take_rows":     # repeated rows, same shape
        idx = np.array([2, 0, 2, 1][:shape_of(e)[0]])
        return a[0][idx] if not sym else a[0][T.constant(idx)]
    if op == "inc_rows":      # repeated indices accumulate
        idx = np.array([1, 1, 0])
        if sym:
            return T.inc_subtensor(a[0][T.constant(idx)], a[1])
        out = a[0].copy()
        np.add.at(out, idx, np.broadcast_to(a[1], (3,) + a[1].shape))
        return out
    if op == "set_cols":
        if sym:
            return T.set_subtensor(a[0][:, 1:3], 0.5)
        out = a[0].copy()
        out[:, 1:3] = 0.5
        return out
    if op == "row_of":
        return a[0][1]
    if op == "col_of":
        return a[0][:, 2]
    if op == "inc_vec":
        if sym:
            return T.inc_subtensor(a[0][1:], a[1])
        out = a[0].copy()
        out[1:] += a[1]
        return out
    if op == "elem":
        return a[0][-1]
    raise AssertionError(op)


def _values(seed):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1.5, 1.5, size=s) for k, s in SHAPES.items()}


graphs = st.tuples(
    st.lists(st.one_of(expr((3, 4)), expr((4,)), expr(())), min_size=1, max_size=3),
    st.lists(st.sampled_from(SHARED), max_size=2, unique=True),
    st.data())


def _build(outs_e, targets, data):
    sym = {k: T.tensor("float64", shape=(None,) * len(s)) for k, s in SHAPES.items()
           if k not in SHARED}
    for k in sym:
        sym[k].name = k
    shared = {k: symconv.shared(np.zeros(SHAPES[k]), name=k) for k in SHARED}
    env = {**sym, **shared}
    update_e = [data.draw(expr(SHAPES[t], 1), label=f"update {t}") for t in targets]
    if data.draw(st.booleans(), label="duplicate an output") and outs_e:
        outs_e = outs_e + [outs_e[0]]
    if update_e and data.draw(st.booleans(), label="return an update value"):
        outs_e = outs_e + [update_e[0]]
    outs = [evaluate(e, env, T) for e in outs_e]
    updates = list(zip([shared[t] for t in targets], [evaluate(e, env, T) for e in update_e]))
    return sym, shared, outs_e, update_e, outs, updates


@FAST
@given(graphs, st.integers(0, 2**16))
def test_random_graphs_agree_across_modes_and_numpy(graph, seed):
    outs_e, targets, data = graph
    sym, shared, outs_e, update_e, outs, updates = _build(outs_e, targets, data)
    values = _values(seed)
    want_outs = [np.asarray(evaluate(e, values, np)) for e in outs_e]
    want_updates = [np.asarray(evaluate(e, values, np)) for e in update_e]
    inputs = list(sym.values())
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        for k in SHARED:
            shared[k].set_value(values[k])
        f = symconv.function(inputs, outs, updates=updates, mode=mode, on_unused_input="ignore")
        got = f(*[values[k] for k in sym])
        for g, w in zip(got, want_outs):
            assert g.shape == w.shape, mode
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=mode)
        for t, w in zip(targets, want_updates):
            np.testing.assert_allclose(shared[t].get_value(), w, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{mode} update of {t}")


@FAST
@given(graphs, st.integers(0, 2**16))
def test_returned_arrays_alias_nothing(graph, seed):
    outs_e, targets, data = graph
    sym, shared, _, _, outs, updates = _build(outs_e, targets, data)
    values = _values(seed)
    # a second, in-place-updating function shares the shared variables
    step = symconv.function([], [], updates=[(shared[k], shared[k] * 0.5 + 1) for k in SHARED])
    mode = data.draw(st.sampled_from(["FAST_RUN", "FAST_COMPILE"]), label="mode")
    for k in SHARED:
        shared[k].set_value(values[k])
    f = symconv.function(list(sym.values()), outs, updates=updates, mode=mode,
                         on_unused_input="ignore")
    args = [values[k] for k in sym]
    first = f(*args)
    for a in first:
        assert isinstance(a, np.ndarray) and a.flags.writeable and 0 not in a.strides[:a.ndim]\
            or a.size <= 1
    saved = [a.copy() for a in first]
    second = f(*args)           # a later call (and its updates) changes no earlier result
    step()                      # nor does another function's in-place update
    for a, s in zip(first, saved):
        np.testing.assert_array_equal(a, s)
    shared_saved = {k: shared[k].get_value() for k in SHARED}
    for i, a in enumerate(second):
        snapshot = [b.copy() for b in second]
        a[...] = np.nan         # mutating one returned array changes nothing else
        for j, b in enumerate(second):
            if j != i:
                np.testing.assert_array_equal(b, snapshot[j])
        for k in SHARED:
            np.testing.assert_array_equal(shared[k].get_value(), shared_saved[k])
    for a, s in zip(first, saved):
        np.testing.assert_array_equal(a, s)


def test_the_fuzzer_can_fail():
    """The aliasing property is not vacuous: two outputs that share memory are caught."""
    x = T.dvector("x")
    e = T.exp(x)
    f = symconv.function([x], [e, e[::-1]])
    a, b = f(np.zeros(3))
    a[0] = 100
    assert b[2] == 1.0    # before issue 9's fix this was 100: b was a view of a
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(np.arange(3.0), np.arange(3.0)[::-1])
