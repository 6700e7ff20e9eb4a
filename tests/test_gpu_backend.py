"""The CuPy backend against the NumPy backend: every op, the device semantics, a LeNet step.

Skipped (with the reason) where CuPy or a CUDA GPU is missing. ``agree`` compiles one graph for
``device=cpu`` and ``device=cuda`` and compares every output and update: float32 to rtol 1e-4,
float64 to 1e-10, integers exactly.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.graph import OPS, TensorType

pytestmark = pytest.mark.gpu

try:
    from symconv.backends import get_backend
    from symconv.backends.cupy import DeviceUnavailableError
    BACKEND = get_backend("cuda")
except DeviceUnavailableError as err:
    pytest.skip(str(err), allow_module_level=True)

cp = BACKEND.xp
TOL = {"float16": 2e-3, "float32": 1e-4, "float64": 1e-10}


def agree(build: Callable[[], tuple[list, Any, list]], values: list,
          steps: int = 1) -> list[np.ndarray]:
    """Compile ``build()`` -> (inputs, outputs, updates) on cpu and on cuda, run ``steps``
    calls, and compare outputs and the updated shared values. Returns the CPU outputs."""
    results = []
    for device in ("cpu", "cuda"):
        with symconv.change_flags(device=device):
            inputs, outputs, updates = build()
            fn = symconv.function(inputs, outputs, updates=updates, on_unused_input="ignore")
            for _ in range(steps):
                outs = fn(*values)
            outs = outs if isinstance(outs, list) else [outs]
            shared = [target.get_value() for target, _ in updates]
            for value in outs + shared:
                assert isinstance(value, np.ndarray), f"{device}: got a {type(value)}"
            results.append(outs + shared)
    for i, (ref, got) in enumerate(zip(*results)):
        assert got.dtype == ref.dtype and got.shape == ref.shape, \
            f"result {i}: cuda gives {got.dtype}{got.shape}, cpu {ref.dtype}{ref.shape}"
        if ref.dtype.kind in "fc":
            tol = TOL[ref.dtype.name]
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=f"result {i}")
        else:
            np.testing.assert_array_equal(got, ref, err_msg=f"result {i}")
    return results[0]


def agree_fn(fn: Callable[..., Any], values: list[np.ndarray], grad: bool = False) -> None:
    """``agree`` for ``fn(*symbolic inputs)``, and its gradient wrt every float input."""
    def build() -> tuple[list, Any, list]:
        xs = [TensorType(v.dtype, (None,) * v.ndim)(f"x{i}") for i, v in enumerate(values)]
        out = fn(*xs)
        outs = [out]
        if grad:
            wrt = [x for x in xs if x.dtype.startswith("float")]
            outs += T.grad(out.sum(), wrt)
        return xs, outs, []
    agree(build, values)


def values_for(dtype: str, shape: tuple, rng: np.random.Generator, positive: bool = False
               ) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith(("int", "uint")):
        lo = 1 if positive else (0 if dtype.startswith("u") else -5)
        return rng.integers(lo, 6, shape).astype(dtype)
    x = rng.standard_normal(shape)
    return (np.abs(x) + 0.5 if positive else x).astype(dtype)


# ---- elementwise ---------------------------------------------------------------------------

POSITIVE = {"log", "log1p", "log2", "log10", "sqrt", "pow", "true_div", "int_div", "mod", "inv"}
ELEMWISE = sorted(name for name, op in OPS.items() if op.elemwise is not None and name != "cast")


@pytest.mark.parametrize("name", ELEMWISE)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bool"])
def test_elementwise_op_agrees(name, dtype, rng):
    op = OPS[name]
    n = op.elemwise.nin
    dtypes = ("bool", dtype, dtype) if name == "switch" else (dtype,) * n
    probe = [np.ones((), d) for d in dtypes]
    try:
        with np.errstate(all="ignore"):
            op.kernel(np, *probe)
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        pytest.skip(f"NumPy has no {name} for {dtypes}")
    # broadcasting (a row against a matrix) and, for 3 operands, a transposed (non-contiguous)
    # third operand: its (5, 4) value enters the op as a (4, 5) view
    shapes = [(4, 5), (1, 5), (5, 4)][:n]
    vals = [values_for(d, s, rng, positive=name in POSITIVE) for d, s in zip(dtypes, shapes)]

    def build() -> tuple[list, Any, list]:
        xs = [TensorType(d, (1, None) if s[0] == 1 else (None, None))()
              for d, s in zip(dtypes, shapes)]
        args = xs[:2] + [x.T for x in xs[2:]]
        return xs, op(*args), []
    with np.errstate(all="ignore"):
        agree(build, vals)


@pytest.mark.parametrize("src,dst", list(itertools.permutations(
    ["bool", "int8", "int64", "uint16", "float16", "float32", "float64"], 2)))
def test_cast_agrees(src, dst, rng):
    x = values_for(src, (3, 7), rng)
    agree_fn(lambda v: T.cast(v, dst), [x])


def test_fused_chain_and_scalar_constants_agree(rng):
    x = rng.standard_normal((64, 33)).astype("float32")
    agree_fn(lambda a: T.tanh(a * 0.5 + 1) * T.nnet.sigmoid(a) - abs(a) ** 2, [x], grad=True)


def test_broadcast_mismatch_raises_on_the_device():
    with symconv.change_flags(device="cuda"):
        a, b = T.matrix(), T.matrix()
        f = symconv.function([a, b], a + b)
        with pytest.raises(ValueError, match="broadcast"):
            f(np.ones((3, 4)), np.ones((1, 4)))


# ---- reductions, softmax, dot, shape ops ---------------------------------------------------

@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "argmax", "argmin", "any",
                                  "all"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 300, 7)])
def test_reduction_agrees(kind, axis, shape, rng):
    x = rng.standard_normal(shape).round(1)         # ties for argmax
    for keepdims in (False, True):
        agree_fn(lambda v: OPS[kind](v, axis=axis, keepdims=keepdims), [x])
    agree_fn(lambda v: OPS[kind](v, axis=axis), [rng.integers(-3, 4, shape).astype("int16")])


def test_long_reduction_uses_the_block_kernel(rng):
    x = rng.standard_normal((3, 100_000)).astype("float32")
    for kind in ("sum", "max", "argmax"):
        agree_fn(lambda v: OPS[kind](v, axis=1), [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cols", [1, 10, 33, 1000])
def test_softmax_family_agrees(dtype, cols, rng):
    x = (rng.standard_normal((17, cols)) * 5).astype(dtype)
    y = rng.integers(0, cols, 17).astype("int32")

    def build() -> tuple[list, Any, list]:
        v, labels = TensorType(dtype, (None, None))(), T.ivector()
        sm = T.nnet.softmax(v)
        cost = T.nnet.categorical_crossentropy(sm, labels).mean()
        return [v, labels], [sm, T.nnet.logsoftmax(v), cost, T.grad(cost, v)], []
    agree(build, [x, y])


def test_dot_and_shape_ops_agree(rng):
    a = rng.standard_normal((6, 5)).astype("float32")
    b = rng.standard_normal((5, 4)).astype("float32")

    def build() -> tuple[list, Any, list]:
        x, y, i = T.fmatrix(), T.fmatrix(), T.lscalar()
        d = T.dot(x, y)
        outs = [d, T.dot(x[0], y), d.T.flatten(), T.concatenate([d, d], axis=1),
                d.reshape((4, 6)), x[i:i + 2], x[[0, 2, 2]],
                T.inc_subtensor(x[[0, 2, 2]], 1.0), T.set_subtensor(x[1:3, 0], 0.0),
                T.alloc(np.float32(1.5), x.shape[0], 3),
                # float32 throughout: a float64 result of a float32 sum is only float32-exact
                d.sum() / T.cast(x.shape[0], "float32")]
        return [x, y, i], outs, []
    agree(build, [a, b, np.int64(2)])


# ---- conv and pool -------------------------------------------------------------------------

CONV_CONFIGS = [dict(), dict(border_mode="full"), dict(border_mode=(1, 2), subsample=(2, 1)),
                dict(filter_dilation=(2, 2), filter_flip=False), dict(num_groups=2),
                dict(border_mode="half", subsample=(2, 2))]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_and_gradients_agree(config, dtype, rng):
    groups = config.get("num_groups", 1)
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 4 // groups, 3, 3)).astype(dtype)

    def build() -> tuple[list, Any, list]:
        xs, ws = TensorType(dtype, (None,) * 4)(), TensorType(dtype, (None,) * 4)()
        y = T.nnet.conv2d(xs, ws, **config)
        return [xs, ws], [y] + T.grad((y * y).sum(), [xs, ws]), []
    agree(build, [x, w])


@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("geometry", [dict(ws=(2, 2), ignore_border=True),
                                      dict(ws=(3, 2), stride=(2, 1), ignore_border=False),
                                      dict(ws=(3, 3), stride=(2, 2), pad=(1, 1),
                                           ignore_border=True)], ids=str)
def test_pool_and_gradients_agree(mode, geometry, rng):
    from symconv.tensor.signal import pool
    x = rng.integers(0, 3, (2, 3, 7, 6)).astype("float64")   # many ties in every window

    def build() -> tuple[list, Any, list]:
        v = T.tensor4()
        y = pool.pool_2d(v, mode=mode, **geometry)
        return [v], [y, T.grad((y * y).sum(), v)], []
    agree(build, [x])


# ---- device semantics ----------------------------------------------------------------------

def test_shared_values_live_on_the_device():
    with symconv.change_flags(device="cuda"):
        w = symconv.shared(np.arange(6.0).reshape(2, 3), name="w")
        labels = symconv.shared(np.arange(3, dtype="int32"))
    assert isinstance(w.get_value(), np.ndarray)
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), cp.ndarray)
    assert isinstance(labels.get_value(borrow=True, return_internal_type=True), np.ndarray)
    w.set_value(cp.ones((2, 3)))
    np.testing.assert_array_equal(w.get_value(), np.ones((2, 3)))
    w.set_value(np.zeros((4, 3)))
    assert w.get_value().shape == (4, 3)


def test_call_device_returns_device_arrays_and_applies_updates():
    from symconv.backends.cupy import call_device
    with symconv.change_flags(device="cuda"):
        acc = symconv.shared(np.zeros(3), name="acc")
        x = T.vector()
        f = symconv.function([x], x * 2, updates=[(acc, acc + x)])
    out = call_device(f, cp.arange(3.0))
    assert isinstance(out, cp.ndarray)
    np.testing.assert_array_equal(out.get(), [0, 2, 4])
    np.testing.assert_array_equal(acc.get_value(), [0, 1, 2])
    np.testing.assert_array_equal(f(np.ones(3)), [2, 2, 2])


def test_minibatch_index_slices_a_shared_dataset(rng):
    data = rng.standard_normal((20, 4)).astype("float32")
    for device in ("cpu", "cuda"):
        with symconv.change_flags(device=device):
            shared_x = symconv.shared(data)
            index, x = T.lscalar(), T.fmatrix()
            f = symconv.function([index], (x ** 2).sum(axis=1),
                                 givens={x: shared_x[index * 5:(index + 1) * 5]})
            np.testing.assert_allclose(f(3), (data[15:20] ** 2).sum(axis=1), rtol=1e-5)


# ---- the tutorial networks -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mlp", "lenet"])
def test_training_steps_agree(kind, rng):
    from symconv.bench import models
    if kind == "lenet" and not models.has_conv():
        pytest.skip("conv2d / pool_2d not available")
    x_shape = (32, 784) if kind == "mlp" else (32, 1, 28, 28)
    x = rng.random(x_shape).astype("float32")
    y = rng.integers(0, 10, 32).astype("int32")
    init = (models.mlp_init if kind == "mlp" else models.lenet_init)(
        np.random.default_rng(0), "float32")

    def build() -> tuple[list, Any, list]:
        params = models.as_shared(init)
        xs = T.matrix("x") if kind == "mlp" else T.tensor4("x")
        labels = T.ivector("y")
        cost = models.nll((models.mlp_output if kind == "mlp" else models.lenet_output)(
            xs, params), labels)
        return [xs, labels], [cost], models.sgd_updates(cost, params, 0.1)
    with symconv.change_flags(floatX="float32"):
        agree(build, [x, y], steps=3)


def test_cuda_graph_replay_matches_the_plain_function(rng):
    from symconv.backends.cuda.graphs import GraphedFunction
    from symconv.bench import models
    x = rng.random((16, 784)).astype("float32")
    y = rng.integers(0, 10, 16).astype("int32")
    init = models.mlp_init(np.random.default_rng(0), "float32")
    init["W_out"] = rng.standard_normal(init["W_out"].shape).astype("float32") * 0.1
    costs = []
    for graphed in (False, True):
        with symconv.change_flags(device="cuda", floatX="float32"):
            params = models.as_shared(init)
            xs, labels = T.matrix("x"), T.ivector("y")
            cost = models.nll(models.mlp_output(xs, params), labels)
            fn = symconv.function([xs, labels], cost,
                                  updates=models.sgd_updates(cost, params, 0.1))
        call = GraphedFunction(fn) if graphed else fn
        costs.append([float(call(x, y)) for _ in range(4)] + [params["W_out"].get_value()])
    np.testing.assert_allclose(costs[1][:4], costs[0][:4], rtol=1e-5)
    np.testing.assert_allclose(costs[1][4], costs[0][4], rtol=1e-5, atol=1e-6)
