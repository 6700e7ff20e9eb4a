"""symconv against Theano 1.0.5 on issue 13's rest (tests/fixtures/theano_api_more.json): sparse
matrices, generic shared variables, compile.mode, boolean-mask updates, pooling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import theano_cases_more
from test_theano_api import check_case

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "theano_api_more.json").read_text())
CASES = FIXTURE["cases"]
try:
    import scipy.sparse  # noqa: F401
    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_theano(name: str) -> None:
    if name.startswith("sparse_") and not HAVE_SCIPY:
        pytest.skip("symconv.sparse needs SciPy (pip install 'symconv[sparse]')")
    check_case(getattr(theano_cases_more, f"case_{name}"), CASES[name], name)


def test_every_case_has_a_recorded_result() -> None:
    names = {n[5:] for n in dir(theano_cases_more) if n.startswith("case_")}
    assert names == set(CASES), ("re-run tests/fixtures/make_theano_api.py --module "
                                 "theano_cases_more for the new cases")
