"""ifelse (lazy: only the selected branch runs) against T.switch, its gradient, and Mode."""
import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.ifelse import ifelse
from tests.util import check_grad


def test_ifelse_matches_switch_on_scalars_and_picks_whole_tensors(rng):
    a, b = T.dscalar("a"), T.dscalar("b")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    lazy = ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    eager = T.switch(T.lt(a, b), T.mean(x), T.mean(y))
    f = symconv.function([a, b, x, y], [lazy, eager, ifelse(a > b, x, y * 2)])
    xv, yv = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    for av, bv in [(0.0, 1.0), (1.0, 0.0)]:
        got_lazy, got_eager, whole = f(av, bv, xv, yv)
        assert got_lazy == got_eager == (xv.mean() if av < bv else yv.mean())
        np.testing.assert_array_equal(whole, xv if av > bv else yv * 2)
        assert whole is not xv      # never the caller's own array


def test_only_the_selected_branch_is_computed():
    c, x, w = T.dscalar("c"), T.dvector("x"), T.dmatrix("w")
    # the else branch fails whenever it runs (a (3,) vector times a (4, 4) matrix)
    f = symconv.function([c, x, w], ifelse(c > 0, x * 2, T.dot(x, w)))
    np.testing.assert_allclose(f(1.0, np.ones(3), np.ones((4, 4))), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError):
        f(-1.0, np.ones(3), np.ones((4, 4)))


def test_several_outputs_and_errors():
    c, x, y = T.dscalar("c"), T.dvector("x"), T.dvector("y")
    outs = ifelse(c > 0, [x, x + 1], [y, y - 1])
    f = symconv.function([c, x, y], outs)
    np.testing.assert_allclose(f(1.0, np.zeros(2), np.ones(2)), [[0, 0], [1, 1]])
    np.testing.assert_allclose(f(0.0, np.zeros(2), np.ones(2)), [[1, 1], [0, 0]])
    with pytest.raises(TypeError, match="same dtype"):
        ifelse(c > 0, x, T.dmatrix())
    with pytest.raises(TypeError, match="must be a scalar"):
        ifelse(x > 0, x, y)
    with pytest.raises(ValueError, match="same length"):
        ifelse(c > 0, [x], [y, y])


@pytest.mark.parametrize("threshold", [-10.0, 10.0])
def test_gradient_follows_the_selected_branch(rng, threshold):
    check_grad(lambda u, v: ifelse(T.lt(u.sum(), threshold), T.tanh(u) * v, u * 3),
               [rng.normal(size=3), rng.normal(size=3)])


def test_ifelse_inside_scan():
    xs = T.dvector("xs")
    out, _ = symconv.scan(lambda v, acc: ifelse(T.gt(v, 0), acc + v, acc * 0.5), sequences=xs,
                          outputs_info=T.constant(1.0, dtype="float64"))
    np.testing.assert_allclose(symconv.function([xs], out)(np.array([1.0, -1.0, 2.0, -3.0])),
                               [2.0, 1.0, 3.0, 1.5])


def test_mode_objects_choose_the_optimizer():
    x = T.dvector("x")
    raw = symconv.function([x], x * 1, mode=symconv.Mode(linker="py", optimizer=None))
    opt = symconv.function([x], x * 1, mode=symconv.Mode(linker="vm"))
    assert "mul" in [n.op.name for n in raw.program.nodes]    # no rewrite: x * 1 stays
    assert "mul" not in [n.op.name for n in opt.program.nodes]
    np.testing.assert_allclose(raw(np.arange(3.0)), opt(np.arange(3.0)))
    with pytest.raises(ValueError, match="unknown linker"):
        symconv.Mode(linker="fast")


def test_pickled_function_with_ifelse():
    import pickle
    c, x = T.dscalar("c"), T.dvector("x")
    f = symconv.function([c, x], ifelse(c > 0, T.exp(x), -x))
    f(1.0, np.zeros(2))       # compiled branches are not part of the pickle
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(1.0, np.zeros(2)), [1.0, 1.0])
    np.testing.assert_allclose(g(-1.0, np.ones(2)), [-1.0, -1.0])


def test_branches_are_compiled_in_the_functions_mode_also_inside_a_scan():
    c, x = T.dscalar("c"), T.dvector("x")
    chosen = ifelse(c > 0, T.log(x) * 3, x)
    guarded = symconv.function([c, x], chosen, mode="NanGuardMode")
    with pytest.raises(FloatingPointError, match=r"(?s)produced NaN.*log"), \
            np.errstate(invalid="ignore"):
        guarded(1.0, np.array([-1.0]))
    np.testing.assert_allclose(guarded(-1.0, np.array([-1.0])), [-1.0])
    steps, _ = symconv.scan(lambda v: ifelse(v < 0, T.log(v) * 3, v), sequences=x)
    with pytest.raises(FloatingPointError, match=r"(?s)scan scan_fn, step 0.*produced NaN.*log"), \
            np.errstate(invalid="ignore"):
        symconv.function([x], steps, mode="NanGuardMode")(np.array([-1.0]))
