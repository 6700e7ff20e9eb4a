"""The generated CUDA kernels executed on the CPU against the NumPy backend: elementwise, casts,
reductions, softmax and cross-entropy.

Each node is bound by the CuPy backend's own lowering (tests/cuda_emu: the backend with NumPy
arrays as device memory and the kernels compiled by g++ from their CUDA source), run, and
compared with the NumPy backend's thunk on the same inputs: integers and bools exactly, floats
to the GPU tests' tolerances. Launch arguments are checked against each kernel's parameter
types and every array access against the array's bounds. CNN kernels, the tutorial graphs and
the executed-vs-compile-only report are in test_cuda_emulated_graphs.py.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import symconv.tensor as T
from symconv.backends.cuda import catalog, elemwise as ew, lowerings
from symconv.backends.numpy import NumpyBackend
from symconv.graph import DTYPES, OPS, Constant, TensorType
from symconv.ops import nnet as N

import cuda_emu

if cuda_emu.available():
    pytest.skip(cuda_emu.available(), allow_module_level=True)

DTYPES12 = [d for d in DTYPES if not d.startswith("complex")]
TOL = {"float16": 2e-3, "float32": 1e-4, "float64": 1e-10}
NUMPY = NumpyBackend()


@pytest.fixture(scope="module")
def backend():
    return cuda_emu.emulated_backend()


def values(dtype: str, shape: tuple, rng: np.random.Generator, positive: bool = False,
           special: bool = True) -> np.ndarray:
    """Random values of ``dtype``; floats get NaN, infinities and signed zeros on the
    diagonal, integers small values with zeros (division by zero has NumPy's rules)."""
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith(("int", "uint")):
        lo = 1 if positive else (0 if dtype.startswith("u") else -5)
        return rng.integers(lo, 6, shape).astype(dtype)
    x = rng.standard_normal(shape) * 3
    x = np.abs(x) + 0.5 if positive else x
    if special and len(shape) == 2 and min(shape) >= 4:
        for k, v in enumerate((np.nan, np.inf, -np.inf, -0.0)):
            x[k, k] = v
    return x.astype(dtype)


def assert_same(got: Any, ref: Any, label: str) -> None:
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape, \
        f"{label}: kernel gives {got.dtype}{got.shape}, NumPy {ref.dtype}{ref.shape}"
    if ref.dtype.kind == "f":
        tol = TOL[ref.dtype.name]
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=label)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=label)


def differences(backend, cases: list[tuple[str, Any, list]]) -> list[tuple[str, str]]:
    """Bind each (label, node, input values) with both backends, run (the emulated kernels
    compiled in one batch), compare; (label, what differs) per case that differs."""
    cuda_thunks = [backend.thunk(node) for _, node, _ in cases]
    for _, node, _ in cases:
        cuda_emu.catalogued(name for name, _ in catalog.node_sources(node))
    calls = [lambda t=t, v=v: t(*v) for t, (_, _, v) in zip(cuda_thunks, cases)]
    with np.errstate(all="ignore"):
        got = backend.plan(calls)
        refs = [NUMPY.thunk(node)(*vals) for _, node, vals in cases]
    failures = []
    for (label, _, _), g, r in zip(cases, got, refs):
        try:
            assert_same(g, r, label)
        except AssertionError as err:
            failures.append((label, str(err).strip().splitlines()[0] + " " + label))
    return failures


def run_against_numpy(backend, cases: list[tuple[str, Any, list]]) -> int:
    """`differences`, asserting there are none; returns how many cases ran."""
    failures = [line for _, line in differences(backend, cases)]
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + \
        "\n".join(failures[:40])
    return len(cases)


def numpy_accepts(op, dtypes: tuple[str, ...]) -> bool:
    probe = [np.ones((), d) for d in dtypes]
    try:
        with np.errstate(all="ignore"):
            op.kernel(np, *probe)
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return False
    return True


def elementwise_combos() -> list[tuple[Any, tuple[str, ...]]]:
    combos = []
    for name, op in sorted(OPS.items()):
        if op.elemwise is None or name == "cast":
            continue
        n = op.elemwise.nin
        dts = [(d,) * n for d in DTYPES12]
        if n >= 2:   # mixed operands: the conversions before the scalar template
            dts += [("float32", "int8") + ("float32",) * (n - 2),
                    ("int64", "float64") + ("int64",) * (n - 2),
                    ("uint8", "int16") + ("uint8",) * (n - 2),
                    ("float16", "float32") + ("float16",) * (n - 2)]
        if name == "switch":
            dts = [("bool", d, d) for d in DTYPES12] + [("int8", "float32", "int32")]
        combos += [(op, d) for d in dts if numpy_accepts(op, d)]
    return combos


def test_every_elementwise_op_and_dtype(backend, rng):
    # a full (4, 5) operand, a broadcast row and a transposed (non-contiguous) view
    cases = []
    for op, dtypes in elementwise_combos():
        shapes = [(4, 5), (1, 5), (5, 4)][:len(dtypes)]
        positive = op.name == "pow" and dtypes[0][0] in "iub"
        vals = [values(d, s, rng, positive) for d, s in zip(dtypes, shapes)]
        vals = vals[:2] + [v.T for v in vals[2:]]
        xs = [TensorType(d, (1, None) if s[0] == 1 else (None, None))()
              for d, s in zip(dtypes, shapes)]
        try:
            node = op(*xs).owner
        except TypeError:   # refused at graph build (as Theano: bitwise ops on floats, ...)
            continue
        cases.append((f"{op.name}{dtypes}", node, vals))
    assert len({c[1].op.name for c in cases}) >= 40
    assert run_against_numpy(backend, cases) > 400


def test_every_cast(backend, rng):
    cases = []
    for src, dst in itertools.permutations(DTYPES12, 2):
        x = values(src, (6, 7), rng)
        if src.startswith("float") and not dst.startswith("float"):
            x = np.nan_to_num(x, nan=1.5, posinf=7.0, neginf=-7.0)   # C leaves those undefined
            if dst.startswith("u"):
                x = np.abs(x)
        node = T.cast(TensorType(src, (None, None))(), dst).owner
        cases.append((f"cast {src}->{dst}", node, [x]))
    run_against_numpy(backend, cases)


def test_scalar_operands_views_and_ranks(backend, rng):
    cases = []
    for dtype in DTYPES12:   # a size-1 constant travels by value
        x = TensorType(dtype, (None, None))()
        one = Constant(TensorType(dtype, ()), np.ones((), dtype))
        cases.append((f"maximum(x, 1) {dtype}", T.maximum(x, one).owner,
                      [values(dtype, (4, 5), rng), one.data]))
    # a host integer scalar (a minibatch index, a size) is a by-value argument too
    i, v = T.lscalar(), T.fmatrix()
    cases.append(("fmatrix * lscalar", (v * i).owner, [values("float32", (3, 4), rng),
                                                         np.int64(3)]))
    # ranks 1 to 4 after axis collapsing: sliced and transposed operands keep their axes
    base = values("float64", (4, 6, 5, 8), rng, special=False)
    other = values("float64", (4, 1, 5, 1), rng, special=False)
    for ndim, (a, b) in enumerate([(base[:, :, :, 0].ravel(), base[0, 0, 0, :][:1]),
                                   (base[:, 0, :, 0], other[:, 0, :, 0][:, ::-1]),
                                   (base[:, ::2, :, 0], other[:, :, :, 0]),
                                   (base[:, :, :, ::3], other)], start=1):
        xa = TensorType("float64", (None,) * a.ndim)()
        xb = TensorType("float64", tuple(1 if n == 1 else None for n in b.shape))()
        node = (T.tanh(xa) * xb).owner
        cases.append((f"rank {ndim}", node.inputs[0].owner, [a]))
        cases.append((f"rank {ndim} broadcast", node, [np.tanh(a), b]))
    cases.append(("empty", (v + v).owner, [np.zeros((0, 3), "float32")] * 2))
    run_against_numpy(backend, cases)


def test_64_bit_index_variants(backend, rng, monkeypatch):
    # the int64-indexed kernels a > 2**31-element array gets, run on small arrays
    monkeypatch.setattr(ew, "index_type", lambda shape, strides: "int64")
    cases = []
    for name, dtype in [("add", "float32"), ("true_div", "int16"), ("sigmoid", "float64"),
                        ("switch", "float16"), ("mod", "int64")]:
        op = OPS[name]
        dtypes = ("bool", dtype, dtype) if name == "switch" else (dtype,) * op.elemwise.nin
        vals = [values(d, (4, 5), rng)[:, ::2] for d in dtypes]
        cases.append((f"{name} int64 index", op(*[TensorType(d, (None, None))()
                                                  for d in dtypes]).owner, vals))
    for kind in ("sum", "argmax"):
        x = TensorType("float32", (None, None, None))()
        cases.append((f"{kind} int64 index", OPS[kind](x, axis=(0, 2)).owner,
                      [values("float32", (3, 4, 90), rng, special=False)]))
    run_against_numpy(backend, cases)
    built = [backend.emulator.kernels[n] for n in backend.pending]
    assert len(built) == len(cases)
    assert all(p.ctype == "long long" for k in built for p in k.params
               if p.name in ("n", "n_out"))


REDUCE_DTYPES = ["float32", "float64", "float16", "int16", "uint8", "bool", "int64"]


REDUCTIONS = ["sum", "prod", "max", "min", "argmax", "argmin", "any", "all"]


def reduction_cases(kind: str, rng: np.random.Generator) -> list[tuple[str, Any, list]]:
    cases = []
    for dtype in REDUCE_DTYPES:
        if kind in ("sum", "prod") and dtype == "float16":
            continue   # NumPy accumulates float16 in float32 pairwise; not the same sum
        x = values(dtype, (3, 4, 5), rng, special=False)
        if dtype.startswith("float"):
            x = x.round(0)   # ties for argmax
            x[1, 2, 3] = np.nan
        for axis in (0, 1, (0, 2), -1, None):
            var = TensorType(dtype, (None,) * 3)()
            cases.append((f"{kind} {dtype} axis={axis}", OPS[kind](var, axis=axis).owner,
                          [x]))
        var = TensorType(dtype, (None,) * 3)()
        cases.append((f"{kind} {dtype} keepdims", OPS[kind](var, axis=1, keepdims=True).owner,
                      [x.transpose(2, 0, 1)]))
    # long reductions over few outputs: one block per output, a shared-memory tree
    for dtype in ("float32", "int16", "bool"):
        x = values(dtype, (3, 200), rng, special=False)
        for axis in (1, None):
            var = TensorType(dtype, (None, None))()
            cases.append((f"{kind} {dtype} per-block axis={axis}",
                          OPS[kind](var, axis=axis).owner, [x]))
    return cases


@pytest.fixture(scope="module")
def reduction_differences(backend) -> dict[str, list[str]]:
    # every kind in one batch (one g++ run), reported per kind below
    rng = np.random.default_rng(1234)
    cases = {kind: reduction_cases(kind, rng) for kind in REDUCTIONS}
    found = differences(backend, [c for kind in REDUCTIONS for c in cases[kind]])
    return {kind: [line for label, line in found if label.split()[0] == kind]
            for kind in REDUCTIONS}


@pytest.mark.parametrize("kind", REDUCTIONS)
def test_reductions(reduction_differences, kind):
    failures = reduction_differences[kind]
    assert not failures, f"{len(failures)} {kind} cases differ:\n" + "\n".join(failures[:40])


def test_softmax_and_logsoftmax(backend, rng):
    cases = []
    for dtype, cols in itertools.product(("float16", "float32", "float64", "int32"),
                                         (1, 10, 33, 100)):
        x = values(dtype, (17, cols), rng, special=False)
        for fn in (T.nnet.softmax, T.nnet.logsoftmax):
            node = fn(TensorType(dtype, (None, None))()).owner
            cases.append((f"{node.op.name} {dtype} cols={cols}", node, [x]))
    x = values("float32", (2, 3, 7), rng, special=False)
    cases.append(("softmax 3-d", T.nnet.softmax(T.ftensor3()).owner, [x]))
    run_against_numpy(backend, cases)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_crossentropy_lowerings_agree_with_the_generic_kernels(backend, dtype, rng):
    # the bound xent / xent_grad kernels against the ops' generic kernels and the closed forms,
    # with fewer labels than rows of logits (those rows get a zero gradient) and a g of
    # another dtype
    fwd_op, grad_op = N.crossentropy_softmax_1hot, N.crossentropy_softmax_1hot_grad
    runs = []
    for label_dtype, (rows, n, cols), g_dtype in [("int32", (13, 13, 37), dtype),
                                                  ("int64", (9, 6, 10), "float64"),
                                                  ("uint8", (5, 5, 1), dtype),
                                                  ("int16", (4, 0, 3), dtype)]:
        z = TensorType(dtype, (None, None))()
        y = TensorType(label_dtype, (None,))()
        g = TensorType(g_dtype, (None,))()
        nodes = [fwd_op(z, y).owner, grad_op(g, z, y).owner]
        for node in nodes:
            cuda_emu.catalogued(name for name, _ in catalog.node_sources(node))
        thunks = [backend.thunk(node) for node in nodes]
        assert all(isinstance(t, lowerings.XentKernel) for t in thunks)
        x = values(dtype, (rows, cols), rng, special=False)
        labels = rng.integers(0, cols, n).astype(label_dtype)
        gv = values(g_dtype, (n,), rng, special=False)
        runs.append((x, labels, gv, lambda t=thunks[0], a=(x, labels): t(*a),
                     lambda t=thunks[1], a=(gv, x, labels): t(*a), nodes))
    results = backend.plan([call for run in runs for call in run[3:5]])
    tol = TOL[dtype] * 5
    for (x, labels, gv, _, _, nodes), nll, gx in zip(runs, results[::2], results[1::2]):
        n = len(labels)
        generic = [NUMPY.generic_thunk(node) for node in nodes]
        for got, want in ((nll, generic[0](x, labels)), (gx, generic[1](gv, x, labels))):
            assert got.dtype == want.dtype == np.dtype(dtype) and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        x64 = x[:n].astype("float64")
        lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
        onehot = np.eye(x.shape[1])[labels.astype(int)]
        np.testing.assert_allclose(nll, lse - x64[np.arange(n), labels], rtol=tol, atol=tol)
        np.testing.assert_allclose(
            gx[:n], gv.astype(dtype).astype("float64")[:, None]
            * (np.exp(x64 - lse[:, None]) - onehot), rtol=tol, atol=tol)
        assert not gx[n:].any()


def test_crossentropy_lowering_refuses_more_labels_than_rows(backend):
    node = N.crossentropy_softmax_1hot(T.fmatrix(), T.ivector()).owner
    with pytest.raises(IndexError, match="5 labels for 4 rows of logits"):
        backend.thunk(node)(np.ones((4, 3), "float32"), np.zeros(5, "int32"))


