"""The documentation generators work and the generated pages agree with the code."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from symconv.config import FLAGS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flags_page_is_generated_from_the_flag_table():
    page = (DOCS / "flags.md").read_text()
    assert page == _load("make_flags").make(), "docs/flags.md is stale: python docs/make_flags.py"
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", page, re.MULTILINE)
    assert rows == [(f.name, f.default) for f in FLAGS.values()]


def test_results_page_renders_every_committed_json(tmp_path):
    make_results = _load("make_results")
    text = make_results.make()
    for path in sorted(make_results.RESULTS.glob("*.json")):
        assert f"### {path.name}" in text
    assert "no renderer" not in text


def test_bench_record_renders_one_table_per_suite():
    make_results = _load("make_results")
    record = {"settings": {"device": "cpu", "floatX": "float32", "repeat": 3,
                           "compare": ["torch"]},
              "command": "symconv-bench run conv", "date": "2026-01-01T00:00:00",
              "environment": {"cpu": "CPU X", "threads": 2, "versions": {"numpy": "2"}},
              "results": [
                  {"suite": "conv", "case": "c1 fwd", "batch": 64, "error": None,
                   "symconv": {"median_ms": 1.5, "images_per_s": 42666.7, "gflop_per_s": 3.0},
                   "peers": {"torch": {"median_ms": 3.0, "ratio": 0.5}}},
                  {"suite": "pool", "case": "p1 fwd", "batch": 64, "error": "boom",
                   "symconv": None, "peers": {}}]}
    text = make_results.render_bench(record)
    assert "#### conv" in text and "#### pool" in text
    assert "| c1 fwd | 64 | 1.500 | 42,667 | 3.0 | 3.000 | 0.50 |" in text
    assert "error: boom" in text


def test_tutorial_page_code_runs():
    page = (DOCS / "tutorial.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    scope: dict = {}
    exec(compile(  # noqa: S102  (running the page's own example is the test)
       code, "docs/tutorial.md", "exec"), scope)
    assert scope["test"](scope["X"], scope["Y"]) < 0.05


def test_readme_keeps_the_two_newcomer_commands():
    readme = (DOCS.parent / "README.md").read_text()
    assert "    pip install . && python -m symconv.demo\n" in readme
    assert "    python -m pytest -q tests\n" in readme
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (DOCS.parent / link).exists(), link
