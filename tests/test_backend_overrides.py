"""Every backend override agrees with the op's generic kernel on the same inputs (NumPy lowering
vs generic kernel on the CPU), checked node by node by tests.util.assert_backends_agree; a
meta-test keeps the table below covering every registered CPU override."""
from __future__ import annotations

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.backends.base import OVERRIDES
from symconv.backends.numpy import NumpyBackend
from symconv.tensor.signal import pool
from tests.util import assert_backends_agree


def _conv(rng, dtype="float64", **params):
    x, w = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    y = T.nnet.conv2d(x, w, **params)
    groups = params.get("num_groups", 1)
    values = [rng.normal(size=(3, 4, 9, 8)).astype(dtype),
              rng.normal(size=(6, 4 // groups, 3, 2)).astype(dtype)]
    return [x, w], [y] + T.grad((y ** 2).sum(), [x, w]), values


def _pool(rng, mode, ignore_border=True, pad=(0, 0), ws=(2, 3), stride=None):
    x = T.tensor4("x")
    y = pool.pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    # a permutation has no ties, so the max gradient is unambiguous
    xv = rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0
    return [x], [y, T.grad((y * y).sum(), x)], [xv]


def _pool_ties(rng, stride):
    # few distinct values: most windows have tied maxima (the switches' extra pairs)
    x = T.tensor4("x", dtype="float32")
    y = pool.pool_2d(x, (2, 3), ignore_border=False, stride=stride)
    xv = rng.integers(0, 3, size=(2, 3, 7, 8)).astype("float32")
    return [x], [y, T.grad((y * y).sum(), x)], [xv]


def _max_pool_grad_given_maxout(rng):
    # max_pool_2d_grad on a maxout the caller passes: the switches rewrite cannot apply, so
    # the compare kernel runs (in the pool_2d gradient cases the rewrite replaces it)
    x, y, gy = T.tensor4("x"), T.tensor4("y"), T.tensor4("gy")
    xv = rng.permutation(2 * 3 * 8 * 6).reshape(2, 3, 8, 6) / 10.0
    yv = xv.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5))
    params = dict(ws=(2, 2), ignore_border=True)
    return [x, y, gy], [symconv.ops.pool.max_pool_2d_grad(x, y, gy, **params)], \
        [xv, yv, rng.normal(size=yv.shape)]


def _dot_beside_conv(rng):
    # a conv in the same program makes the dot lowering split large products over threads
    a, b = T.matrix("a", dtype="float32"), T.matrix("b", dtype="float32")
    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    outs = [T.dot(a, b), T.dot(a.T, a), T.nnet.conv2d(x, w)]
    values = [rng.normal(size=(300, 200)).astype("float32"),
              rng.normal(size=(200, 150)).astype("float32"),
              rng.normal(size=(2, 1, 5, 5)).astype("float32"),
              rng.normal(size=(2, 1, 3, 3)).astype("float32")]
    return [a, b, x, w], outs, values


def _elementwise_and_indexing(rng):
    x, y = T.matrix("x"), T.vector("y")
    outs = [T.tanh(x * 2 + y) - T.exp(-x), x[1:, ::2], x[1], T.dot(x, y)]
    return [x, y], outs, [rng.normal(size=(5, 4)), rng.normal(size=4)]


CASES = {
    "conv valid": lambda rng: _conv(rng),
    "conv full, float32": lambda rng: _conv(rng, "float32", border_mode="full"),
    "conv padded strided": lambda rng: _conv(rng, border_mode=(1, 2), subsample=(2, 1)),
    "conv dilated, correlation": lambda rng: _conv(rng, filter_dilation=(2, 1),
                                                   filter_flip=False),
    "conv grouped, half": lambda rng: _conv(rng, num_groups=2, border_mode="half"),
    "pool max": lambda rng: _pool(rng, "max"),
    "pool max, partial windows": lambda rng: _pool(rng, "max", ignore_border=False),
    "pool sum, tiled": lambda rng: _pool(rng, "sum", ws=(2, 2)),
    "pool average_inc_pad": lambda rng: _pool(rng, "average_inc_pad", pad=(1, 1),
                                              stride=(1, 2)),
    "pool average_exc_pad": lambda rng: _pool(rng, "average_exc_pad", pad=(1, 2), ws=(3, 3)),
    "pool max grad, given maxout": _max_pool_grad_given_maxout,
    "pool max, overlapping, float32 ties": lambda rng: _pool_ties(rng, stride=(1, 2)),
    "dot beside conv": _dot_beside_conv,
    "elementwise and indexing": _elementwise_and_indexing,
}
CHECKED: set = set()


@pytest.mark.parametrize("name", list(CASES))
def test_cpu_overrides_agree_with_generic_kernels(name):
    inputs, outputs, values = CASES[name](np.random.default_rng(len(name)))
    CHECKED.update(assert_backends_agree(inputs, outputs, values))


def test_every_cpu_override_is_checked():
    NumpyBackend()   # registers the CPU overrides
    if len(CHECKED) == 0:
        pytest.skip("run with the whole module: the agreement tests fill the checked set")
    missing = sorted(op.name for op in set(OVERRIDES["cpu"]) - CHECKED)
    assert not missing, f"CPU overrides without an agreement case: {missing}"


def test_the_helper_catches_a_wrong_override(monkeypatch):
    # a lowering that is off by one must fail the comparison
    backend_ops = OVERRIDES["cpu"]
    conv2d = symconv.ops.conv.conv2d
    real = backend_ops[conv2d]

    def wrong(backend, node):
        thunk = real(backend, node)
        return lambda *args: thunk(*args) + 1
    monkeypatch.setitem(backend_ops, conv2d, wrong)
    inputs, outputs, values = _conv(np.random.default_rng(0))
    with pytest.raises(AssertionError, match="conv2d"):
        assert_backends_agree(inputs, outputs[:1], values)


def test_each_backend_class_finds_its_overrides():
    # a backend whose kind names no registry silently runs every generic kernel
    import symconv.backends.cuda.cnn  # noqa: F401  (registers the CUDA lowerings, no GPU needed)
    from symconv.backends.cupy import CupyBackend
    NumpyBackend()
    conv2d, pool_2d = symconv.ops.conv.conv2d, symconv.ops.pool.pool_2d
    for backend_class in (NumpyBackend, CupyBackend):
        assert {conv2d, pool_2d} <= set(OVERRIDES[backend_class.kind]), backend_class
