"""The DeepLearningTutorials scripts run on symconv with only their imports renamed.

Needs a checkout of github:lisa-lab/DeepLearningTutorials (not part of symconv): set
SYMCONV_DLT_CODE to its ``code/`` folder. Skipped otherwise (as in CI: no network there).
"""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import dlt_tutorials  # noqa: E402

CODE = os.environ.get("SYMCONV_DLT_CODE")
needs_code = pytest.mark.skipif(
    not CODE or not Path(CODE, "logistic_sgd.py").is_file(),
    reason="set SYMCONV_DLT_CODE to DeepLearningTutorials/code to run the tutorials")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("dlt") / "code"
    dlt_tutorials.prepare(Path(CODE), work)
    return work


@needs_code
@pytest.mark.slow
@pytest.mark.parametrize("name", list(dlt_tutorials.TUTORIALS))
def test_tutorial_runs_with_imports_renamed(name, work):
    row = dlt_tutorials.run_one(name, work, timeout=900)
    assert row["ran"], "\n".join(row["last_lines"])


def test_renaming_is_what_a_user_does():
    text = "import theano\nimport theano.tensor as T\nfrom theano import shared\ntheanos = 1\n"
    assert dlt_tutorials.renamed(text) == ("import symconv\nimport symconv.tensor as T\n"
                                          "from symconv import shared\ntheanos = 1\n")
