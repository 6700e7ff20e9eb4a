"""symconv.printing: debugprint's tree and schedule, pp's infix text, pydotprint's DOT and PNG."""
from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv import printing

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def layer():
    """tanh(dot(x, W) + b) named 'y', and its parts."""
    x = T.matrix("x")
    W = symconv.shared(np.zeros((3, 2)), name="W")
    b = symconv.shared(np.zeros(2), name="b")
    y = T.tanh(T.dot(x, W) + b)
    y.name = "y"
    return x, W, b, y


def test_debugprint_tree_names_ops_and_leaves(layer):
    y = layer[3]
    lines = printing.debugprint(y, file="str").splitlines()
    assert lines[0].startswith("tanh 'y' [id A]")
    ops = [re.sub(r"^[ |]*", "", line).split(" ")[0] for line in lines]
    assert ops[:3] == ["tanh", "add", "dot"]
    assert {"x", "W", "b"} <= set(ops)
    # Each child is indented one level deeper than its parent.
    depth = {op: len(line) - len(line.lstrip(" |")) for op, line in zip(ops, lines)}
    assert depth["tanh"] < depth["add"] < depth["dot"] < depth["x"]


def test_debugprint_shows_a_shared_subtree_once(layer):
    x = layer[0]
    a = T.exp(x)
    text = printing.debugprint(a * a, file="str")
    exp_lines = [line for line in text.splitlines() if "exp" in line]
    assert len(exp_lines) == 2
    ident = re.search(r"\[id (\w+)\]", exp_lines[0]).group(1)
    assert all(f"[id {ident}]" in line for line in exp_lines)
    assert text.count(" x [id") + text.count("|x [id") == 1  # x is printed under exp once


def test_debugprint_types_depth_and_file(layer):
    y = layer[3]
    typed = printing.debugprint(y, file="str", print_type=True)
    assert all("TensorType(float64" in line for line in typed.splitlines())
    shallow = printing.debugprint(y, file="str", depth=1)
    assert len(shallow.splitlines()) == 2
    buf = io.StringIO()
    assert printing.debugprint(y, file=buf) is None
    assert buf.getvalue().rstrip("\n") == printing.debugprint(y, file="str")


def test_debugprint_of_a_function_lists_its_schedule(layer):
    x, y = layer[0], layer[3]
    f = symconv.function([x], y)
    text = printing.debugprint(f, file="str")
    schedule = text.split("Schedule:")[1]
    steps = [line for line in schedule.splitlines() if line.strip()]
    assert len(steps) == len(f.program.nodes)
    # the bias add and tanh are one fused elementwise node, printed as its expression
    assert steps[-1].split("=", 1)[1].strip().startswith("fused_elemwise{program=tanh(")
    # The schedule computes what the function returns.
    assert np.allclose(f(np.ones((4, 3))), np.zeros((4, 2)))


def test_debugprint_rejects_other_objects():
    with pytest.raises(TypeError, match="debugprint: expected a variable"):
        printing.debugprint(42, file="str")


def test_pp_infix_and_calls():
    x, y = T.vector("x"), T.vector("y")
    assert printing.pp(x + y) == "(x + y)"
    assert printing.pp((x - y) * x) == "((x - y) * x)"
    assert printing.pp(x / y) == "(x / y)"
    assert printing.pp(-x) == "-x"
    assert printing.pp(T.tanh(x)) == "tanh(x)"
    assert printing.pp(x < y) == "(x < y)"
    assert printing.pp(x.dimshuffle("x", 0)) == "x.dimshuffle('x', 0)"


def _dot_graph(path: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    text = Path(path).read_text()
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    nodes = dict(re.findall(r'^\s*(v\d+) \[.*label="([^"]*)"\];$', text, re.MULTILINE))
    edges = re.findall(r'^\s*(v\d+) -> (v\d+) \[label="(\d+)"\];$', text, re.MULTILINE)
    return nodes, edges


def test_pydotprint_writes_dot_with_every_node_and_edge(layer, tmp_path):
    y = layer[3]
    path = printing.pydotprint(y, outfile=str(tmp_path / "graph.dot"))
    assert path.endswith("graph.dot")
    nodes, edges = _dot_graph(path)
    labels = [label.split("\\n")[0] for label in nodes.values()]
    assert sorted(labels) == sorted(["tanh", "add", "dot", "x", "W", "b",
                                     "dimshuffle{pattern=('x', 0)}"])
    # One edge per (node, input position); every edge joins known nodes.
    assert sorted(int(pos) for _, _, pos in edges) == [0, 0, 0, 0, 1, 1]
    assert all(src in nodes and dst in nodes for src, dst, _ in edges)


def test_pydotprint_without_dot_leaves_only_the_dot_file(layer, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="'dot' program is not installed, so .*graph.png was "
                                         "not drawn; wrote the graph to .*graph.dot"):
        path = printing.pydotprint(layer[3], outfile=str(tmp_path / "graph.png"))
    assert path == str(tmp_path / "graph.dot")
    assert not (tmp_path / "graph.png").exists()


def test_pydotprint_marks_outputs_and_updates_and_draws_a_legend(tmp_path):
    x = T.vector("x")
    w = symconv.shared(np.ones(3), name="w")
    f = symconv.function([x], [(x * w).sum(), x + 1], updates=[(w, w - 0.1 * x)])
    text = Path(printing.pydotprint(f, outfile=str(tmp_path / "g.dot"))).read_text()
    assert re.search(r'out0 \[.*label="output 0"\]', text)
    assert re.search(r'out1 \[.*label="output 1"\]', text)
    assert re.search(r'upd0 \[.*dashed.*label="update w"\]', text)
    assert len(re.findall(r"-> out\d", text)) == 2 and len(re.findall(r"-> upd0", text)) == 1
    assert "subgraph cluster_legend" in text
    for entry in ("input", "shared variable", "constant", "output",
                  "update of a shared variable"):
        assert f'label="{entry}"' in text


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz 'dot' not installed (apt-get install graphviz)")
def test_pydotprint_renders_a_png_of_a_compiled_function(layer, tmp_path):
    x, y = layer[0], layer[3]
    f = symconv.function([x], T.nnet.softmax(y))
    path = printing.pydotprint(f, outfile=str(tmp_path / "graph.png"))
    assert path == str(tmp_path / "graph.png")
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 50 and height > 100  # a real drawing of several stacked nodes
