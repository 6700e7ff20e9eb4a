"""symconv against values recorded from Theano 1.0.5 (tests/fixtures/theano_api.json).

Each case in tests/theano_cases.py ran under Theano to make the fixture; here it runs under
symconv and must give the same dtypes, shapes and values, or raise the same kind of error.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import symconv
import symconv.tensor as T
import theano_cases

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "theano_api.json").read_text())
CASES = FIXTURE["cases"]

# cases where Theano's result has NaN/inf that symconv's stable rewrites avoid on purpose:
# there the Theano entry may be finite in symconv; every finite entry must still agree
STABLER = {
    "logistic_regression_tutorial": "the xent output: Theano's log1p(-sigmoid) is -inf",
    "log_exp_plus_exp": "Theano's gradient of log(exp(a) + exp(b)) is NaN at a = b = 300",
    "log_sigmoid_forms": "Theano rewrites log(1 - sigmoid) to log1p(-sigmoid): -inf at 40",
}
RTOL = {"logistic_regression_tutorial": 1e-6}


def _compare(got, want, name: str, where: str = "") -> None:
    if isinstance(want, dict) and "list" in want:
        assert isinstance(got, (list, tuple)), f"{name}{where}: expected a list, got {got!r}"
        assert len(got) == len(want["list"]), f"{name}{where}: length {len(got)}"
        for i, (g, w) in enumerate(zip(got, want["list"])):
            _compare(g, w, name, f"{where}[{i}]")
        return
    if isinstance(want, (bool, str)):
        assert got == want, f"{name}{where}: {got!r} != Theano's {want!r}"
        return
    got = np.asarray(got)
    data = np.array(want["data"], dtype=want["dtype"])
    assert got.dtype.name == want["dtype"], f"{name}{where}: dtype {got.dtype} != {want['dtype']}"
    assert list(got.shape) == want["shape"], f"{name}{where}: shape {got.shape}"
    if data.dtype.kind in "fc":
        check = np.ones(data.shape, bool)
        if name in STABLER:
            check = np.isfinite(data)
        np.testing.assert_allclose(got[check], data[check], rtol=RTOL.get(name, 1e-7),
                                   atol=1e-12, err_msg=f"{name}{where}")
    else:
        np.testing.assert_array_equal(got, data, err_msg=f"{name}{where}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_theano(name: str) -> None:
    check_case(getattr(theano_cases, f"case_{name}"), CASES[name], name)


def check_case(case, want: dict, name: str) -> None:
    """Run ``case`` under symconv: it raises an error of the recorded kind (an empty kind list:
    Theano raised a bare Exception, so any error agrees) or returns Theano's recorded value."""
    if "error" in want:
        with pytest.raises(Exception) as info:
            case(symconv, T)
        names = {k.__name__ for k in type(info.value).__mro__}
        assert names & set(want["error"]) or not want["error"], (
            f"{name}: raised {type(info.value).__name__}; Theano raised {want['error'][0]} "
            f"({want['message']})")
        return
    _compare(case(symconv, T), want["value"], name)


def test_every_case_has_a_recorded_result() -> None:
    names = {n[5:] for n in dir(theano_cases) if n.startswith("case_")}
    assert names == set(CASES), "re-run tests/fixtures/make_theano_api.py for the new cases"
