"""Compile-time folding of small nodes (symconv/rewrites/fold.py): the bias gradient's
keepdims sum + dimshuffle, and sum(-x)."""
from __future__ import annotations

import numpy as np

import symconv
import symconv.tensor as T


def ops(f) -> list[str]:
    return [n.op.name for n in f.program.nodes]


def unoptimized(inputs, outputs):
    with symconv.config.change_flags(optimizer="None"):
        return symconv.function(inputs, outputs)


def test_a_bias_gradient_is_one_sum_without_a_dimshuffle(rng):
    x, b = T.tensor4("x"), T.vector("b")
    y = T.tanh(x + b.dimshuffle("x", 0, "x", "x"))
    g = T.grad((y ** 2).sum(), b)
    f = symconv.function([x, b], g)
    sums = [n for n in f.program.nodes if n.op.name == "sum"]
    assert len(sums) == 1 and sums[0].kw == {"axis": (0, 2, 3), "keepdims": False,
                                             "dtype": None}
    assert "dimshuffle" not in ops(f)[ops(f).index("sum"):]
    xv, bv = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3)
    t = np.tanh(xv + bv[None, :, None, None])
    want = (2 * t * (1 - t ** 2)).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(f(xv, bv), want, rtol=1e-12)
    np.testing.assert_array_equal(f(xv, bv), unoptimized([x, b], g)(xv, bv))


def test_a_dimshuffle_that_reorders_the_kept_axes_stays():
    x = T.tensor3("x")
    s = x.max(axis=1, keepdims=True)
    f = symconv.function([x], s.dimshuffle(2, 0))          # drops axis 1 but transposes
    assert ops(f) == ["max", "dimshuffle"]
    xv = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(f(xv), xv.max(axis=1).T)
    g = symconv.function([x], s.dimshuffle(0, 2))
    assert ops(g) == ["max"]
    np.testing.assert_array_equal(g(xv), xv.max(axis=1))


def test_sum_of_a_negation_negates_the_sum_bit_for_bit(rng):
    x = T.matrix("x")
    y = T.sum(-x, axis=0) * 3
    f = symconv.function([x], y)
    assert ops(f) == ["sum", "fused_elemwise"]                # the neg joins the product
    assert [s.op for s in f.program.nodes[1].kw["program"].steps] == ["neg", "mul"]
    xv = rng.standard_normal((50, 7)) * 1e3
    np.testing.assert_array_equal(f(xv), unoptimized([x], y)(xv))


def test_an_integer_negation_is_not_moved_past_the_sum():
    x = T.bmatrix("x")
    f = symconv.function([x], T.sum(-x, dtype="float32"))
    assert ops(f) == ["neg", "sum"]                           # -(-128) wraps in int8
    xv = np.array([[-128, 1]], dtype="int8")
    assert f(xv) == np.float32(-128 - 1)


def test_a_negation_moves_before_a_broadcast_and_fuses(rng):
    v, w = T.dvectors("vw")
    out = -(v / w).dimshuffle("x", 0)
    f = symconv.function([v, w], out)
    assert ops(f) == ["fused_elemwise", "dimshuffle"]
    vv, wv = rng.standard_normal(3), rng.standard_normal(3) + 3
    np.testing.assert_array_equal(f(vv, wv), unoptimized([v, w], out)(vv, wv))
    m = T.dmatrix("m")     # a transposing dimshuffle is left alone: neg stays after it
    assert ops(symconv.function([m], -m.T))[-1] == "neg"
