"""The package's layers, enforced: every import in every module (function-level ones included)
goes to the module's own layer or one below it, so the import cycle cannot come back."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symconv"

# From the ground up (ARCHITECTURE.md); a module may import its own layer and those below.
LAYERS = [
    ["symconv.config"],
    ["symconv.graph", "symconv.values"],
    ["symconv.ops"],
    ["symconv.gradient", "symconv.rewrite", "symconv.rewrites"],
    ["symconv.backends"],
    ["symconv.schedule", "symconv.executor", "symconv.compile", "symconv.io", "symconv.mode",
     "symconv.shared", "symconv.profiling", "symconv.function_extras", "symconv.test_value",
     "symconv.generic", "symconv.stateful", "symconv.monitormode", "symconv.python_ops"],
    # scan and ifelse compile inner graphs, so their ops live here, above compile
    ["symconv.tensor", "symconv.printing", "symconv.verify", "symconv.sandbox",
     "symconv.distributed", "symconv.scan_module", "symconv.ifelse", "symconv.scalar",
     "symconv.builders", "symconv.sparse", "symconv.typed_list"],
    ["symconv"],
    ["symconv.datasets", "symconv.bench", "symconv.demo"],
]


def layer_of(module: str) -> int:
    """The layer of a module: that of the longest listed prefix of its dotted name."""
    best, depth = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            # the package face is the package's __init__ only: every module is listed
            covers = module == prefix or (prefix != "symconv" and module.startswith(prefix + "."))
            if covers and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    if best is None:
        raise KeyError(module)
    return best


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = pathlib.Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def imports_of(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, imported symconv module) for every import statement anywhere in the file."""
    return imports_in(path.read_text(), _module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """imports_of for the source text of ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, name) for line, name in found
            if name == "symconv" or name.startswith("symconv.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        layer_of(_module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_go_down_the_layers(path):
    module = _module_name(path)
    mine = layer_of(module)
    bad = [f"line {line}: {target} (layer {layer_of(target)})"
           for line, target in imports_of(path) if layer_of(target) > mine]
    assert not bad, f"{module} (layer {mine}) imports from higher layers: {bad}"


def test_the_checker_sees_function_level_and_relative_imports():
    # a module written to break the rule, in every spelling, must be caught
    source = ("import symconv.ops\n"
              "def f():\n    from symconv.compile import function\n"
              "def g():\n    from symconv import tensor\n"
              "def h():\n    from .rewrite import rewrite_graph\n")
    found = [name for _, name in imports_in(source, "symconv.graph", False)]
    assert found == ["symconv.ops", "symconv.compile", "symconv.tensor", "symconv.rewrite"]
    assert all(layer_of(name) > layer_of("symconv.graph") for name in found)


def test_import_symconv_leaves_datasets_and_bench_unloaded():
    code = ("import sys, symconv; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['symconv', 'datasets'], ['symconv', 'bench'], ['symconv', 'demo'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "[]"


def test_tensor_exports_its_api_and_no_helper_modules():
    import symconv.tensor as T
    for leaked in ("np", "math", "builtins", "config", "Any", "E", "I", "R", "S"):
        assert not hasattr(T, leaked), leaked
    for name in ("matrix", "dot", "switch", "stack", "inc_subtensor", "grad", "verify_grad"):
        assert callable(getattr(T, name)), name
