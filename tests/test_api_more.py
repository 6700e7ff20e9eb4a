"""Issue 13's rest beyond the recorded Theano values: ``compile.mode`` as Theano users import
it, generic shared variables, gradients of updates through boolean masks, symbolic pooling
sizes, ``pool_3d`` and ``bilinear_upsampling`` (against naive references and finite
differences)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from tests.util import check_grad

M = np.array([[1.5, -2.0, 0.5], [-1.0, 3.0, -0.25], [2.0, -3.5, 1.0]])


# ---- symconv.compile.mode ----------------------------------------------------------------

def test_compile_mode_imports_as_theano_users_write_them():
    from symconv.compile.mode import Mode, get_default_mode, get_mode
    module = importlib.import_module("symconv.compile.mode")
    assert symconv.compile.mode is module and module.get_mode is get_mode
    assert isinstance(get_default_mode(), Mode) and get_default_mode().name == "FAST_RUN"
    with symconv.change_flags(mode="FAST_COMPILE"):
        assert get_default_mode().name == "FAST_COMPILE"
    assert get_mode("DebugMode").name == "DebugMode"
    with pytest.raises(ValueError, match="No predefined mode .*'nope'"):
        get_mode("nope")


def test_debug_mode_from_get_mode_checks_types():
    x = T.dvector("x")
    f = symconv.function([x], T.exp(x), mode=symconv.compile.mode.get_mode("DebugMode"))
    assert f.program.instrument == "check"
    np.testing.assert_allclose(f(np.zeros(2)), np.ones(2))


# ---- shared variables of any Python object ---------------------------------------------

def test_generic_shared_has_no_arithmetic_and_says_so():
    s = symconv.shared({"a": 1})
    assert str(s.type) == "Generic"
    with pytest.raises(TypeError, match="input 0 is a Generic, not a tensor"):
        T.exp(s)
    with pytest.raises(TypeError, match="update must have the same type"):
        symconv.function([], [], updates=[(s, T.dscalar())])


def test_generic_shared_state_is_held_and_copied_as_theano():
    value = {"a": [1]}
    s = symconv.shared(value)
    assert s.get_value(borrow=True) is value
    copy = s.get_value()
    copy["a"].append(2)
    assert value == {"a": [1]}
    s.set_value(copy)
    assert s.get_value(borrow=True) is not copy and s.get_value() == {"a": [1, 2]}


# ---- set_subtensor / inc_subtensor on boolean masks -----------------------------------------

def test_set_subtensor_through_a_mask_has_a_gradient():
    # Theano 1.0.5 raises here (AdvancedSubtensor refuses the mask); symconv differentiates
    mask = M > 0
    check_grad(lambda x, v: (T.set_subtensor(x[T.constant(mask)], v) ** 2).sum(),
               [M, np.arange(1.0, 6.0)])
    check_grad(lambda x: (T.set_subtensor(x[x > 0], x[x > 0] ** 2) * x).sum(), [M])


def test_mask_value_count_mismatch_is_an_error():
    x, v = T.dmatrix("x"), T.dvector("v")
    f = symconv.function([x, v], T.set_subtensor(x[x > 0], v))
    with pytest.raises(ValueError):
        f(M, np.ones(3))
