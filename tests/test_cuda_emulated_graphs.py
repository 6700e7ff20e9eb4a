"""Whole graphs on an emulated GPU: pool and conv kernels, fused nodes, the tutorial steps.

``device=cuda`` is served by tests/cuda_emu's backend (symconv's CuPy lowerings over NumPy
arrays, the generated kernels compiled by g++), so ``symconv.function`` runs every kernel as a
GPU run would launch it; outputs and updated shared values are compared with ``device=cpu``.
Before a graph runs, the source catalog of its nodes is compiled in one batch; a kernel the run
asks for that the catalog did not list fails the test (the NVRTC check would have missed it).
Ends with mutation checks (a wrong stride or index in generated code must fail) and the
executed-vs-compile-only report.
"""
from __future__ import annotations

import hashlib
import sys
from typing import Any, Callable

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv import backends
from symconv.backends.cuda import catalog, elemwise as ew, pool as pool_src
from symconv.graph import TensorType

import cuda_emu
from cuda_emu.build import EmulationError

if cuda_emu.available():
    pytest.skip(cuda_emu.available(), allow_module_level=True)

TOL = {"float16": 2e-3, "float32": 1e-4, "float64": 1e-10}


@pytest.fixture
def gpu(monkeypatch):
    """device=cuda is the emulated backend for this test."""
    backend = cuda_emu.emulated_backend()
    monkeypatch.setitem(backends._BACKENDS, "cuda", backend)
    backend.unplanned.clear()
    yield backend
    assert not backend.unplanned, \
        f"kernels missing from the catalog of their nodes: {sorted(backend.unplanned)}"


def prepare(backend, fn: Any, indexes: tuple[str, ...] = ("int32",)) -> None:
    """Compile the catalog of ``fn``'s nodes for the index widths this run uses."""
    nodes = fn.program.nodes
    cuda_emu.catalogued(name for node in nodes for name, _ in catalog.node_sources(node))
    saved = catalog.INDEXES
    catalog.INDEXES = indexes
    try:
        backend.prepare([s for node in nodes for s in catalog.node_sources(node)])
    finally:
        catalog.INDEXES = saved


def agree(backend, build: Callable[[], tuple[list, Any, list]], values: list, steps: int = 1,
          indexes: tuple[str, ...] = ("int32",)) -> None:
    """Compile ``build()`` -> (inputs, outputs, updates) for cpu and cuda, run ``steps`` calls,
    compare outputs and updated shared values."""
    results = []
    for device in ("cpu", "cuda"):
        with symconv.change_flags(device=device):
            inputs, outputs, updates = build()
            fn = symconv.function(inputs, outputs, updates=updates, on_unused_input="ignore")
        if device == "cuda":
            prepare(backend, fn, indexes)
        with np.errstate(all="ignore"):
            for _ in range(steps):
                outs = fn(*values)
        outs = outs if isinstance(outs, list) else [outs]
        results.append(outs + [target.get_value() for target, _ in updates])
    for i, (ref, got) in enumerate(zip(*results)):
        assert got.dtype == ref.dtype and got.shape == ref.shape, \
            f"result {i}: cuda gives {got.dtype}{got.shape}, cpu {ref.dtype}{ref.shape}"
        if ref.dtype.kind == "f":
            tol = TOL[ref.dtype.name]
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=f"result {i}")
        else:
            np.testing.assert_array_equal(got, ref, err_msg=f"result {i}")


def _tensors(values: list[np.ndarray]) -> list:
    return [TensorType(v.dtype, (None,) * v.ndim)(f"x{i}") for i, v in enumerate(values)]


# ---- fused elementwise chains --------------------------------------------------------------

def test_fused_chains_and_their_gradients(gpu, rng):
    x = rng.standard_normal((64, 33)).astype("float32")
    b = rng.standard_normal((33,)).astype("float32")

    def build() -> tuple[list, Any, list]:
        xs, bs = _tensors([x, b])
        y = T.tanh(xs * 0.5 + bs) * T.nnet.sigmoid(xs) - abs(xs) ** 2
        z = T.switch(xs > 0, T.log1p(xs * xs), T.exp(xs) - 1) / (1 + bs * bs)
        return [xs, bs], [y, z] + T.grad((y * z).sum(), [xs, bs]), []
    agree(gpu, build, [x, b])
    assert any(n.startswith("sc_ew_") for n in gpu.launches)


# ---- pool and conv -------------------------------------------------------------------------

POOL_GEOMETRIES = [dict(ws=(2, 2), ignore_border=True),
                   dict(ws=(3, 2), stride=(2, 1), ignore_border=False),
                   dict(ws=(3, 3), stride=(2, 2), pad=(1, 1), ignore_border=True)]


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_pool_forward_and_gradient(gpu, dtype, rng):
    from symconv.tensor.signal import pool
    x = rng.integers(0, 3, (2, 3, 7, 6)).astype(dtype)   # many ties in every window

    def build() -> tuple[list, Any, list]:
        v = TensorType(dtype, (None,) * 4)()
        outs = []
        for mode in ("max", "sum", "average_inc_pad", "average_exc_pad"):
            for geometry in POOL_GEOMETRIES:
                y = pool.pool_2d(v, mode=mode, **geometry)
                outs += [y, T.grad((y * y).sum(), v)]
        return [v], outs, []
    agree(gpu, build, [x])


CONV_CONFIGS = [dict(), dict(border_mode="full"), dict(border_mode=(1, 2), subsample=(2, 1)),
                dict(filter_dilation=(2, 2), filter_flip=False), dict(num_groups=2),
                dict(border_mode="half", subsample=(2, 2))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_and_gradients(gpu, dtype, rng):
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    ws = {g: rng.standard_normal((6, 4 // g, 3, 3)).astype(dtype) for g in (1, 2)}

    def build() -> tuple[list, Any, list]:
        xs = TensorType(dtype, (None,) * 4)()
        w1, w2 = TensorType(dtype, (None,) * 4)(), TensorType(dtype, (None,) * 4)()
        outs = []
        for config in CONV_CONFIGS:
            w = w2 if config.get("num_groups") == 2 else w1
            y = T.nnet.conv2d(xs, w, **config)
            outs += [y] + T.grad((y * y).sum(), [xs, w])
        return [xs, w1, w2], outs, []
    agree(gpu, build, [x, ws[1], ws[2]])
    assert {"im2col", "col2im"} <= {cuda_emu.family(n) for n in gpu.launches}


def _conv_pool_module(backend) -> Any:
    """The module holding the conv/pool lowerings (and their index-width choice)."""
    from symconv.ops.pool import pool_2d
    return sys.modules[backend.lowerings[pool_2d].__module__]


def test_64_bit_index_variants_of_conv_pool_and_elementwise(gpu, monkeypatch, rng):
    from symconv.tensor.signal import pool
    monkeypatch.setattr(_conv_pool_module(gpu), "_index", lambda *sizes: "int64")
    monkeypatch.setattr(ew, "index_type", lambda shape, strides: "int64")
    x = rng.standard_normal((2, 2, 8, 7))
    w = rng.standard_normal((3, 2, 3, 2))

    def build() -> tuple[list, Any, list]:
        xs, wv = _tensors([x, w])
        y = T.nnet.conv2d(xs, wv, border_mode=(1, 0))
        p = pool.pool_2d(T.tanh(y), ws=(2, 2), ignore_border=False, mode="average_exc_pad")
        return [xs, wv], [p, p.argmax(axis=1)] + T.grad((p * p).sum(), [xs, wv]), []
    agree(gpu, build, [x, w], indexes=("int64",))
    long_index = [k for n, k in gpu.emulator.kernels.items() if n in gpu.launches
                  and any(p.ctype == "long long" and p.name in ("n", "n_out", "B", "nb")
                          for p in k.params)]
    assert {cuda_emu.family(k.name) for k in long_index} >= {"im2col", "col2im", "pool",
                                                             "pool_grad", "ew"}


# ---- the tutorial networks -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mlp", "lenet"])
def test_tutorial_training_steps(gpu, kind, rng):
    from symconv.bench import models
    batch = 32 if kind == "mlp" else 8   # the CPU runs LeNet's kernels at ~1/1000 GPU speed
    x_shape = (batch, 784) if kind == "mlp" else (batch, 1, 28, 28)
    x = rng.random(x_shape).astype("float32")
    y = rng.integers(0, 10, batch).astype("int32")
    init = (models.mlp_init if kind == "mlp" else models.lenet_init)(
        np.random.default_rng(0), "float32")

    def build() -> tuple[list, Any, list]:
        params = models.as_shared(init)
        xs = T.matrix("x") if kind == "mlp" else T.tensor4("x")
        labels = T.ivector("y")
        p_y = (models.mlp_output if kind == "mlp" else models.lenet_output)(xs, params)
        cost = models.nll(p_y, labels)
        return [xs, labels], [cost, T.argmax(p_y, axis=1)], \
            models.sgd_updates(cost, params, 0.1)
    with symconv.change_flags(floatX="float32"):
        agree(gpu, build, [x, y], steps=3)


# ---- a wrong generated kernel must fail ----------------------------------------------------

class _Mutant:
    """A source generator whose output has ``old`` replaced by ``new`` (and a new kernel
    name) wherever it occurs; ``applied`` counts the sources it changed."""

    def __init__(self, generate: Callable, old: str, new: str) -> None:
        self.generate, self.old, self.new, self.applied = generate, old, new, 0

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[str, str]:
        name, text = self.generate(*args, **kwargs)
        if self.old not in text:
            return name, text
        self.applied += 1
        tag = hashlib.sha1((self.old + self.new).encode()).hexdigest()[:8]
        mutant = f"{name}_mutant{tag}"
        return mutant, text.replace(self.old, self.new).replace(name, mutant)


def _add_broadcast_row(rng) -> tuple[Callable, list]:
    # a transposed operand (strides (1, 4)) plus a broadcast row (strides (0, 1))
    a = rng.standard_normal((5, 4))
    b = rng.standard_normal((1, 5))

    def build() -> tuple[list, Any, list]:
        xa, xb = T.matrix(), TensorType("float64", (1, None))()
        return [xa, xb], [xa.T + xb], []
    return build, [a, b]


@pytest.mark.parametrize("old,new", [("o1 += r * s1_0", "o1 += r * s1_1"),   # wrong stride
                                     ("c * s1_1", "c * s0_1"),              # other operand's
                                     ("r % d1", "r % (d1 - 1)")])           # wrong index
def test_a_wrong_stride_or_index_in_elementwise_code_fails(gpu, monkeypatch, rng, old, new):
    mutant = _Mutant(ew.elemwise_source, old, new)
    monkeypatch.setattr(ew, "elemwise_source", mutant)
    build, values = _add_broadcast_row(rng)
    with pytest.raises((AssertionError, EmulationError)):
        agree(gpu, build, values)
    assert mutant.applied
    gpu.unplanned.clear()


@pytest.mark.parametrize("old,new", [("xb[h * W + w]", "xb[w * W + h]"),
                                     ("b = t / OH", "b = t % OH")])
def test_a_wrong_index_in_pool_code_fails(gpu, monkeypatch, rng, old, new):
    mutant = _Mutant(pool_src.pool_source, old, new)
    monkeypatch.setattr(pool_src, "pool_source", mutant)
    from symconv.tensor.signal import pool
    x = rng.standard_normal((3, 2, 5, 4))

    def build() -> tuple[list, Any, list]:
        v = T.tensor4()
        return [v], [pool.pool_2d(v, ws=(2, 2), ignore_border=True)], []
    with pytest.raises((AssertionError, EmulationError)):
        agree(gpu, build, [x])
    assert mutant.applied
    gpu.unplanned.clear()


def test_a_missing_barrier_in_a_block_reduction_fails(gpu, monkeypatch, rng):
    # without the __syncthreads between tree levels a thread reads a partner's old partial sum
    from symconv.backends.cuda import reduce as red
    barrier = "        __syncthreads();\n      }\n      if (threadIdx.x == 0)"
    mutant = _Mutant(red.reduce_source, barrier, "      }\n      if (threadIdx.x == 0)")
    monkeypatch.setattr(red, "reduce_source", mutant)
    x = rng.standard_normal((3, 300))

    def build() -> tuple[list, Any, list]:
        v = T.matrix()
        return [v], [v.sum(axis=1)], []
    with pytest.raises(AssertionError):
        agree(gpu, build, [x])
    assert mutant.applied
    gpu.unplanned.clear()


def test_a_launch_with_the_wrong_dtype_fails(gpu):
    name, source = ew.elemwise_source(ew.program_of((T.fvector() * 2).owner), 1)
    gpu.prepare([(name, source)])
    kernel = gpu.emulator.kernels[name]
    x = np.ones(4)   # float64 where the kernel reads float
    with pytest.raises(EmulationError, match="got an array of float64, expected float32"):
        kernel((1,), (256,), (x, np.ones(4, "float32"), np.empty(4, "float32"),
                              np.int32(4), np.int32(1), np.int32(1)))


# ---- the report ----------------------------------------------------------------------------

def test_report_executed_and_compile_only_kernels(capsys):
    # runs last (pytest keeps file order): the issue asks which kernels run on the CPU
    table, ran, only = cuda_emu.report()
    with capsys.disabled():
        print("\nCUDA kernels executed on the CPU (g++ emulation) vs only compiled by the "
              "catalog of the same nodes:\n" + table)
    assert set(ran) | set(only) <= set(cuda_emu.FAMILIES), "a kernel name outside sc_<family>_"
    assert "missing from the catalog" not in table
