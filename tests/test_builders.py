"""OpFromGraph beyond the Theano fixtures (tests/theano_cases.py, case_op_from_graph_*):
finite differences, modes, an argument passed twice, shared variables, errors."""
from __future__ import annotations

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from tests.util import check_grad


def test_theanos_import_paths():
    from symconv.compile.builders import OpFromGraph
    assert OpFromGraph is symconv.OpFromGraph is symconv.compile.builders.OpFromGraph


def _block():
    a, b = T.dmatrices("ab")
    return symconv.OpFromGraph([a, b], [T.tanh(T.dot(a, b)) * a, a.sum() - b])


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_default_gradient_matches_finite_differences(rng, mode):
    op = _block()

    def cost(x, w):
        p, q = op(x, w)
        return (p * 1.5).sum() + (q ** 2).sum()
    with symconv.change_flags(mode=mode):
        check_grad(cost, [rng.normal(size=(3, 3)), rng.normal(size=(3, 3))])


@pytest.mark.parametrize("optimizer", ["fast_run", "fast_compile", "None"])
def test_overridden_gradient_is_used_in_every_mode(optimizer):
    u = T.dvector("u")
    op = symconv.OpFromGraph([u], [u ** 3], grad_overrides=lambda i, g: [g[0] * 7.0])
    x = T.dvector("x")
    with symconv.change_flags(optimizer=optimizer):
        f = symconv.function([x], [op(x), T.grad(op(x).sum(), x)])
        value, g = f(np.array([1.0, -2.0]))
        names = [n.op.name for n in f.maker.fgraph.toposort()]
    np.testing.assert_allclose(value, [1.0, -8.0])
    np.testing.assert_allclose(g, [7.0, 7.0])
    # the marker node carries the override to T.grad; FAST_RUN drops it from the schedule
    assert ("custom_grad" in names) == (optimizer != "fast_run")


def test_an_argument_given_to_two_inputs_gets_both_parts(rng):
    a, b = T.dvectors("ab")
    x = T.dvector("x")
    plain = symconv.OpFromGraph([a, b], [a * T.exp(b)])
    listed = symconv.OpFromGraph([a, b], [a * T.exp(b)], grad_overrides=["default", "default"])
    xv = rng.normal(size=3)
    for op in (plain, listed):
        g = symconv.function([x], T.grad(op(x, x).sum(), x))(xv)
        np.testing.assert_allclose(g, np.exp(xv) * (1 + xv))


def test_shared_variables_inside_get_gradients():
    x = T.dvector("x")
    s = symconv.shared(np.array([1.0, 2.0]), name="s")
    full = symconv.OpFromGraph([x], [x * s], grad_overrides=lambda i, g: [g[0] * 10, g[0] * 0])
    inputs_only = symconv.OpFromGraph([x], [x * s], grad_overrides=lambda i, g: [g[0] * 10])
    xv = np.array([3.0, 4.0])
    gx, gs = symconv.function([x], T.grad(full(x).sum(), [x, s]))(xv)
    np.testing.assert_allclose(gx, [10.0, 10.0])
    np.testing.assert_allclose(gs, [0.0, 0.0])
    # an override for the inputs alone leaves the shared variable its own gradient (a
    # superset of Theano, which refuses it)
    gx, gs = symconv.function([x], T.grad(inputs_only(x).sum(), [x, s]))(xv)
    np.testing.assert_allclose(gx, [10.0, 10.0])
    np.testing.assert_allclose(gs, xv)


def test_bad_calls_and_arguments_raise_clearly():
    x, y = T.dvectors("xy")
    op = symconv.OpFromGraph([x, y], [x + y])
    with pytest.raises(ValueError, match="Expected 2 inputs, got 1"):
        op(x)
    with pytest.raises(TypeError, match=r"input 1 \(y\) has type .*float64.*got .*float32"):
        op(x, T.fvector())
    with pytest.raises(TypeError, match="outputs must be a list"):
        symconv.OpFromGraph([x], x * 2)
    with pytest.raises(ValueError, match="mutually exclusive"):
        symconv.OpFromGraph([x], [x * 2], grad_overrides=lambda i, g: g,
                            lop_overrides=lambda i, o, g: g)
    with pytest.raises(NotImplementedError, match="rop_overrides"):
        symconv.OpFromGraph([x], [x * 2], rop_overrides=lambda i, v: v)
    wrong = symconv.OpFromGraph([x, y], [x * y], grad_overrides=lambda i, g: [g[0]])
    with pytest.raises(ValueError, match="should return list of 2 outputs, got 1"):
        T.grad(wrong(x, y).sum(), x)
    # a Python number becomes a constant of the input's type (an int for a float scalar)
    c = T.dscalar("c")
    triple = symconv.OpFromGraph([x, c], [x * c])
    np.testing.assert_allclose(symconv.function([x], triple(x, 2))(np.ones(2)), [2.0, 2.0])
    with pytest.raises(TypeError, match="input 1 .* got 2.0"):
        op(x, 2.0)      # a scalar for a vector input, as Theano refuses
