"""T.grad's interface: lists, consider_constant, disconnected inputs, known_grads, grad of grad."""
import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.gradient import DisconnectedInputError, GradientError, verify_grad


def test_single_and_list_wrt():
    x, y = T.scalar("x"), T.scalar("y")
    cost = x * x * y
    gx = T.grad(cost, x)
    gx2, gy = T.grad(cost, [x, y])
    f = symconv.function([x, y], [gx, gx2, gy])
    assert [float(v) for v in f(3.0, 2.0)] == [12.0, 12.0, 9.0]
    assert gx.name == "(dcost/dx)" or gx.name is None or "dx" in gx.name


def test_cost_must_be_a_scalar_and_a_discrete_cost_has_zero_gradient():
    x = T.vector("x")
    with pytest.raises(TypeError, match="cost must be a scalar"):
        T.grad(x * 2, x)
    # Theano 1.0.5: the gradient of an integer cost (a step function) is zero
    g = T.grad(T.argmax(x), x)
    np.testing.assert_array_equal(g.eval({x: np.array([1.0, 3.0, 2.0])}), [0.0, 0.0, 0.0])


def test_disconnected_inputs():
    x, y = T.scalar("x"), T.scalar("y")
    with pytest.raises(DisconnectedInputError, match="not part of the computational graph"):
        T.grad(x * 2, y)
    with pytest.warns(UserWarning):
        g = T.grad(x * 2, y, disconnected_inputs="warn")
    assert float(g.eval({y: 1.0})) == 0.0
    assert T.grad(x * 2, [x, y], disconnected_inputs="ignore",
                  return_disconnected="None")[1] is None


def test_consider_constant_and_disconnected_grad():
    x = T.scalar("x")
    y = x * x
    g = T.grad(y * x, x, consider_constant=[y])
    assert float(g.eval({x: 3.0})) == 9.0          # y treated as a constant: d(y*x)/dx = y
    g2 = T.grad(T.disconnected_grad(y) * x, x)
    assert float(g2.eval({x: 3.0})) == 9.0


def test_known_grads():
    x = T.vector("x")
    h = T.tanh(x)
    g = T.grad(None, x, known_grads={h: T.ones_like(h)})
    xv = np.array([0.5, -1.0])
    np.testing.assert_allclose(g.eval({x: xv}), 1 - np.tanh(xv) ** 2)


def test_gradient_accumulates_over_reused_variables():
    x = T.scalar("x")
    y = T.exp(x)
    cost = y * y + y
    g = T.grad(cost, x)
    assert float(g.eval({x: 0.5})) == pytest.approx(2 * np.exp(1.0) + np.exp(0.5))


def test_grad_of_grad_hessian_vector():
    x = T.vector("x")
    cost = T.sum(T.tanh(x) ** 3)
    g = T.grad(cost, x)
    hv = T.grad(T.sum(g * T.constant(np.array([1.0, 0.0]))), x)
    xv = np.array([0.3, -0.7])
    t = np.tanh(xv)
    # d/dx 3 t^2 (1 - t^2) = (6t - 12 t^3)(1 - t^2)
    want = np.array([(6 * t[0] - 12 * t[0] ** 3) * (1 - t[0] ** 2), 0.0])
    np.testing.assert_allclose(hv.eval({x: xv}), want, rtol=1e-10)


def test_integer_variables_get_no_gradient_flow():
    x = T.vector("x")
    i = T.lscalar("i")
    cost = T.sum(x * i)
    assert float(T.grad(cost, i, disconnected_inputs="ignore").eval({x: np.ones(2), i: 3})) == 0


def test_verify_grad_catches_a_wrong_rule():
    from symconv.graph import Op

    bad = Op("bad_square_for_test", lambda t: t, lambda xp, x: x * x,
             lambda g, out, x: [g * x])   # wrong: should be 2 * g * x
    with pytest.raises(GradientError, match="disagrees with finite differences"):
        verify_grad(lambda v: bad(v), [np.array([1.0, 2.0])],
                    rng=np.random.default_rng(0))
    from symconv.graph import OPS
    del OPS["bad_square_for_test"]
