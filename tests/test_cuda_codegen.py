"""NVRTC compile check of every CUDA source the CuPy backend generates, on machines without a GPU.

The graphs are compiled for the CPU and their scheduled nodes (after every rewrite, so fused
nodes included) are handed to the source catalog, which enumerates every kernel a GPU run of
the node could request. A source that does not compile fails with NVRTC's log.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.backends.cuda import catalog, elemwise, nvrtc
from symconv.graph import OPS, DTYPES, TensorType
from symconv.ops import nnet as N

try:
    NVRTC_VERSION = nvrtc.version()
except nvrtc.NvrtcUnavailable as err:
    pytest.skip(f"libnvrtc cannot be loaded ({err})", allow_module_level=True)

CODEGEN_DTYPES = [d for d in DTYPES if not d.startswith("complex")]
COMPILED: dict[str, int] = {}


def check(label: str, sources: list[tuple[str, str]]) -> None:
    assert sources, f"{label}: the catalog produced no kernels"
    compiled = nvrtc.compile_many(sources)
    assert compiled == len({name for name, _ in sources}) > 0, \
        f"{label}: {compiled} kernels compiled of {len(sources)} sources"
    COMPILED[label] = compiled


def program_nodes(inputs: list, outputs: list, updates: list | None = None) -> list:
    fn = symconv.function(inputs, outputs, updates=updates, on_unused_input="ignore")
    return fn.program.nodes


def sources_of(nodes: list) -> list[tuple[str, str]]:
    return [s for node in nodes for s in catalog.node_sources(node)]


def _numpy_accepts(op, dtypes: tuple[str, ...]) -> bool:
    """Whether the op's NumPy kernel runs on these dtypes (the combos a graph can use)."""
    values = [np.ones((), d) for d in dtypes]
    try:
        with np.errstate(all="ignore"):
            op.kernel(np, *values)
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        return False
    return True


def elemwise_nodes() -> list:
    nodes = []
    for op in OPS.values():
        if op.elemwise is None or op.name == "cast":
            continue
        n = op.elemwise.nin
        combos = [(d,) * n for d in CODEGEN_DTYPES]
        if n >= 2:   # mixed operands exercise the operand conversions
            combos += [("float32", "int8") + ("float32",) * (n - 2),
                       ("int64", "float64") + ("int64",) * (n - 2),
                       ("uint8", "int16") + ("uint8",) * (n - 2)]
        if op.name == "switch":
            combos = [("bool", d, d) for d in CODEGEN_DTYPES] + [("int8", "float32", "int32")]
        for dtypes in combos:
            if not _numpy_accepts(op, dtypes):
                continue
            # vectors: the n-d variants of the same template are covered by the graph tests
            args = [TensorType(d, (None,))() for d in dtypes]
            nodes.append(op(*args).owner)
    return nodes


def test_every_elementwise_op_and_dtype_compiles():
    nodes = elemwise_nodes()
    assert len({n.op.name for n in nodes}) >= 40
    check("elementwise ops x dtypes", sources_of(nodes))


def test_every_cast_compiles():
    x = {d: TensorType(d, (None,))() for d in CODEGEN_DTYPES}
    nodes = [T.cast(x[a], b).owner for a, b in itertools.permutations(CODEGEN_DTYPES, 2)]
    check("casts", sources_of(nodes))


def test_scalar_operands_compile():
    # constants of size 1 travel by value, under the by-value parameter types
    nodes = []
    for d in CODEGEN_DTYPES:
        x = TensorType(d, (None, None))()
        one = symconv.Constant(TensorType(d, ()), np.ones((), d))
        nodes.append(OPS["maximum"](x, one).owner)
    check("by-value scalar operands", sources_of(nodes))


def test_reductions_compile():
    nodes = []
    kinds = ("sum", "prod", "max", "min", "argmax", "argmin", "any", "all")
    for kind, dtype in itertools.product(kinds, CODEGEN_DTYPES):
        nodes.append(OPS[kind](TensorType(dtype, (None, None))(), axis=1).owner)
    for kind in kinds:   # several kept and reduced axes
        nodes.append(OPS[kind](TensorType("float32", (None, None, None))(), axis=(0, 2)).owner)
    nodes.append(T.sum(TensorType("int8", (None, None))(), axis=0, dtype="float32").owner)
    check("reductions", sources_of(nodes))


def test_softmax_logsoftmax_and_crossentropy_compile():
    nodes, xent = [], []
    for dtype in ("float16", "float32", "float64", "int32"):
        x = TensorType(dtype, (None, None))()
        nodes += [T.nnet.softmax(x).owner, T.nnet.logsoftmax(x).owner]
    for dtype, labels in itertools.product(("float16", "float32", "float64"),
                                           ("int32", "int64", "uint8")):
        z, y = TensorType(dtype, (None, None))(), TensorType(labels, (None,))()
        nll = N.crossentropy_softmax_1hot(z, y)
        xent += [nll.owner, N.crossentropy_softmax_1hot_grad(nll, z, y).owner]
    check("softmax/logsoftmax", sources_of(nodes))
    check("softmax cross-entropy fwd/bwd", sources_of(xent))


def test_every_pool_mode_compiles():
    from symconv.tensor.signal import pool
    nodes = []
    for dtype, mode in itertools.product(("float16", "float32", "float64"),
                                         ("max", "sum", "average_inc_pad", "average_exc_pad")):
        x = TensorType(dtype, (None, None, None, None))(f"x_{dtype}")
        y = pool.pool_2d(x, ws=(3, 2), stride=(2, 1), pad=(1, 1), ignore_border=True,
                         mode=mode)
        nodes += program_nodes([x], [y, T.grad(y.sum(), x)])
    found = {n.op.name for n in nodes}
    assert {"pool_2d", "max_pool_2d_grad", "average_pool_2d_grad"} <= found
    check("pool modes fwd/bwd", sources_of(nodes))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_conv_configurations_compile(dtype):
    nodes = []
    configs = [dict(), dict(border_mode="full"), dict(border_mode=(1, 2), subsample=(2, 1)),
               dict(filter_dilation=(2, 2), filter_flip=False), dict(num_groups=2)]
    for config in configs:
        x = TensorType(dtype, (None, 4, None, None))("x")
        w = TensorType(dtype, (6, 4 // config.get("num_groups", 1), 3, 3))("w")
        y = T.nnet.conv2d(x, w, **config)
        nodes += program_nodes([x, w], [y] + T.grad(y.sum(), [x, w]))
    assert {"conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights"} <= \
        {n.op.name for n in nodes}
    check(f"conv im2col/col2im {dtype}", sources_of(nodes))


@pytest.mark.parametrize("kind", ["mlp", "lenet"])
def test_tutorial_training_graphs_compile(kind):
    from symconv.bench import models
    with symconv.change_flags(floatX="float32"):
        init = (models.mlp_init if kind == "mlp" else models.lenet_init)(
            np.random.default_rng(0), "float32")
        fn = models.train_function(kind, models.as_shared(init))
        predict = models.predict_function(kind, models.as_shared(init))
    nodes = fn.program.nodes + predict.program.nodes
    uncovered = {n.op.name for n in nodes if not catalog.node_sources(n)}
    # what runs as CuPy's own kernels or on the host: shapes, views, indexing, dot (cuBLAS)
    assert not uncovered & (set(catalog.reduce.KINDS) | {"softmax", "logsoftmax", "pool_2d",
                                                           "conv2d", "tanh", "add", "mul"})
    check(f"{kind} train + predict", sources_of(nodes))


def test_sources_are_deterministic():
    x = TensorType("float32", (None, None))()
    node = (T.tanh(x) * 2 + 1).owner
    first = catalog.node_sources(node)
    assert first == catalog.node_sources(node)
    names = [name for name, _ in first]
    assert len(set(names)) == len(names), "different sources must get different names"


def test_collapse_merges_contiguous_axes_and_keeps_broadcasts():
    # (2, 3, 4) output; input a contiguous, input b broadcast over the last two axes
    shape, strides = elemwise.collapse((2, 3, 4), [(12, 4, 1), (1, 0, 0)])
    assert shape == (2, 12) and strides == [(12, 1), (1, 0)]
    shape, strides = elemwise.collapse((2, 3, 4), [(12, 4, 1), (12, 4, 1)])
    assert shape == (24,) and strides == [(1,), (1,)]
    assert elemwise.collapse((1, 1), [(0, 0)]) == ((1,), [(0,)])


def test_a_codegen_error_fails_with_the_nvrtc_log(monkeypatch):
    exp = OPS["exp"]
    monkeypatch.setattr(exp, "elemwise", dataclasses.replace(exp.elemwise, c="undefined_fn({0})"))
    program = elemwise.ScalarProgram(("float32",), (elemwise.Step("exp", (0,), "float32"),))
    name, source = elemwise.elemwise_source(program, 1)
    with pytest.raises(nvrtc.CompileError, match="undefined_fn"):
        nvrtc.compile_to_ptx(source, name)


def test_report_kernel_count(capsys):
    # runs last in this module (pytest keeps file order): the issue asks how many kernels CI
    # compiles
    if not COMPILED:
        pytest.skip("no compile test ran before this one (run the whole module for the count)")
    total = sum(COMPILED.values())
    with capsys.disabled():
        print(f"\nNVRTC {NVRTC_VERSION[0]}.{NVRTC_VERSION[1]} compiled {total} CUDA kernels: "
              + ", ".join(f"{k}: {v}" for k, v in COMPILED.items()))
    assert total > 100
