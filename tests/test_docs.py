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


README_COMMANDS = ("pip install . && python -m symconv.demo",
                   "pip install '.[test]' && python -m pytest tests")


def _indented_commands(text: str) -> list[str]:
    """The README's shell commands: lines indented by four spaces outside code fences."""
    return [m.group(1) for m in re.finditer(r"^    (\S.*)$", text, re.MULTILINE)]


def test_readme_keeps_the_two_newcomer_commands():
    readme = (DOCS.parent / "README.md").read_text()
    commands = _indented_commands(readme)
    assert commands[:2] == list(README_COMMANDS), commands[:2]
    for link in re.findall(r"\]\(((?:docs/|LICENSE|symconv/)[^)]*)\)", readme):
        assert (DOCS.parent / link).exists(), link


def test_ci_runs_exactly_the_readme_test_command():
    readme = (DOCS.parent / "README.md").read_text()
    test_command = _indented_commands(readme)[1]
    ci = (DOCS.parent / ".ci" / "run").read_text()
    # the script's commands, without comments and blank lines
    lines = [line.strip() for line in ci.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[-1] == test_command, f".ci/run ends {lines[-1]!r}, README: {test_command!r}"
    assert "set -euo pipefail" in lines  # a failing install or test fails CI
    assert not any("pytest" in line for line in lines[:-1]), "CI runs the tests only once"


def test_pytest_options_do_not_hide_the_summary_line():
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(DOCS.parent / "setup.cfg")
    addopts = cfg.get("tool:pytest", "addopts", fallback="")
    assert "-q" not in addopts.split(), "-q hides pytest's 'N passed' line"
