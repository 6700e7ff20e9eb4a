"""Readable forms of graphs: debugprint (Theano-style tree), pp (infix), pydotprint (Graphviz)."""
from __future__ import annotations

import io
import os
import sys
from typing import Any, Sequence, TextIO

from symconv.graph import Constant, Node, SharedVariable, Variable


def _roots(obj: Any) -> tuple[list[Variable], Any]:
    from symconv.compile import Function
    obj = getattr(obj, "inner", obj)   # a function with stateful inputs (symconv.stateful)
    if isinstance(obj, Function):
        program = obj.program
        return list(program.outputs) + list(program.updates), program
    if isinstance(obj, Variable):
        return [obj], None
    if isinstance(obj, Node):   # an op application (Theano's Apply), e.g. in a MonitorMode
        return list(obj.outputs), None
    if isinstance(obj, (list, tuple)):
        return [v for o in obj for v in _roots(o)[0]], None
    raise TypeError(f"debugprint: expected a variable, a list of them or a compiled function, "
                    f"got {type(obj).__name__}")


def _label(var: Variable, ids: dict[int, str], print_type: bool) -> str:
    if var.owner is not None:
        text = repr(var.owner)
    elif isinstance(var, Constant):
        text = repr(var)
    elif isinstance(var, SharedVariable):
        text = var.name or "<shared>"
    else:
        text = var.name or "<input>"
    if var.owner is not None and var.name:
        text += f" '{var.name}'"
    text += f" [id {ids.setdefault(id(var), _letters(len(ids)))}]"
    if print_type:
        text += f" <{var.type}>"
    return text


def _letters(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def debugprint(obj: Any, file: TextIO | str | None = None, print_type: bool = False,
               depth: int = -1, done: dict | None = None) -> str | None:
    """Print the graph as an indented tree with ids (repeated subtrees are shown once).

    With ``file='str'`` the text is returned instead of printed. A compiled function prints
    its optimized graph followed by its schedule.
    """
    roots, program = _roots(obj)
    ids: dict[int, str] = {}
    shown: set[int] = set()
    lines: list[str] = []
    with_inner: list[Variable] = []   # results of ops with inner graphs (scan), in print order

    def walk(var: Variable, indent: str, level: int) -> None:
        lines.append(indent + _label(var, ids, print_type))
        if var.owner is None or level == depth:
            return
        if id(var) in shown:
            return
        shown.add(id(var))
        if getattr(var.owner.op, "inner_outputs", None) is not None:
            with_inner.append(var)
        for inp in var.owner.inputs:
            walk(inp, indent + " |", level + 1)

    for root in roots:
        walk(root, "", 0)
    if with_inner:   # as Theano: each inner graph after the outer one, its lines marked '>'
        lines.extend(["", "Inner graphs of the scan ops:"])
        for var in with_inner:    # grows while nested inner graphs are walked
            lines.extend(["", _label(var, ids, print_type)])
            for out in var.owner.op.inner_outputs(var.owner):
                walk(out, " >", 0)
    if program is not None:
        lines.append("")
        lines.append("Schedule:")
        for n, step in enumerate(program.schedule.steps):
            lines.append(f"  {n:3d}  {step}  <{step.node.out.type}>")
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file if file is not None else sys.stdout)
    return None


_INFIX = {"add": "+", "sub": "-", "mul": "*", "true_div": "/", "int_div": "//", "mod": "%",
          "pow": "**", "eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def pp(var: Variable) -> str:
    """The expression as infix text, e.g. ``((x * W) + b)``."""
    if var.owner is None:
        return repr(var)
    node = var.owner
    args = [pp(i) for i in node.inputs]
    if node.op.name in _INFIX and len(args) == 2:
        return f"({args[0]} {_INFIX[node.op.name]} {args[1]})"
    if node.op.name == "neg":
        return f"-{args[0]}"
    if node.op.name == "dimshuffle":
        return f"{args[0]}.dimshuffle{node.kw['pattern']}"
    params = ", ".join(f"{k}={v!r}" for k, v in node.params)
    return f"{node.op.name}({', '.join(args + ([params] if params else []))})"


_LEGEND = (
    ("input", 'shape=ellipse'),
    ("shared variable", 'shape=box'),
    ("constant", 'shape=plaintext'),
    ("elementwise op", 'shape=box, style=filled, fillcolor=lightblue'),
    ("other op", 'shape=box, style=filled, fillcolor=lightyellow'),
    ("output", 'shape=box, style="filled,bold", fillcolor=palegreen'),
    ("update of a shared variable", 'shape=box, style="filled,dashed", fillcolor=pink'),
)


def _dot_text(obj: Any, print_type: bool, legend: bool) -> str:
    """The graph of ``obj`` in Graphviz DOT: ops, their inputs (edges labelled with the input
    position), the outputs and the shared-variable updates marked, and a legend."""
    from symconv.compile import Function
    roots, program = _roots(obj)
    if program is not None:
        outputs, updates = list(program.outputs), list(program.updates)
        targets = list(getattr(obj, "_update_targets", [])) if isinstance(obj, Function) else []
    else:
        outputs, updates, targets = roots, [], []
    buf = io.StringIO()
    buf.write("digraph symconv {\n  rankdir=BT;\n  node [fontname=Helvetica, fontsize=10];\n")
    seen: set[int] = set()

    def name(v: Variable) -> str:
        return f"v{id(v)}"

    def visit(var: Variable) -> None:
        if id(var) in seen:
            return
        seen.add(id(var))
        if var.owner is None:
            shape = "box" if isinstance(var, SharedVariable) else (
                "plaintext" if isinstance(var, Constant) else "ellipse")
            label = repr(var) + (f"\\n{var.type}" if print_type else "")
            buf.write(f'  {name(var)} [shape={shape}, label="{_esc(label)}"];\n')
            return
        label = repr(var.owner) + (f"\\n{var.type}" if print_type else "")
        color = "lightblue" if var.owner.op.elemwise is not None else "lightyellow"
        buf.write(f'  {name(var)} [shape=box, style=filled, fillcolor={color}, '
                  f'label="{_esc(label)}"];\n')
        for pos, inp in enumerate(var.owner.inputs):
            visit(inp)
            buf.write(f'  {name(inp)} -> {name(var)} [label="{pos}"];\n')

    for root in outputs + updates:
        visit(root)
    for k, var in enumerate(outputs):
        buf.write(f'  out{k} [{_LEGEND[5][1]}, label="output {k}"];\n')
        buf.write(f'  {name(var)} -> out{k} [style=bold];\n')
    for k, var in enumerate(updates):
        target = repr(targets[k]) if k < len(targets) else f"#{k}"
        buf.write(f'  upd{k} [{_LEGEND[6][1]}, label="{_esc("update " + target)}"];\n')
        buf.write(f'  {name(var)} -> upd{k} [style=dashed];\n')
    if legend:
        buf.write('  subgraph cluster_legend {\n    label="legend"; fontname=Helvetica; '
                  'fontsize=10; style=rounded;\n')
        for k, (text, attrs) in enumerate(_LEGEND):
            buf.write(f'    legend{k} [{attrs}, label="{text}"];\n')
        for k in range(len(_LEGEND) - 1):  # stacked, in the order above
            buf.write(f"    legend{k + 1} -> legend{k} [style=invis];\n")
        buf.write("  }\n")
    buf.write("}\n")
    return buf.getvalue()


def pydotprint(obj: Any, outfile: str | None = None, format: str | None = None,
               print_type: bool = True, legend: bool = True) -> str:
    """Draw the graph with Graphviz: ops, inputs, outputs and updates marked, with a legend.

    ``outfile`` ending in ``.dot`` writes the DOT text only. Otherwise the DOT text goes beside
    it (same name, ``.dot``) and Graphviz's ``dot`` renders ``outfile`` in ``format`` (default:
    the file's extension, else png). Without Graphviz the ``.dot`` file is still written and a
    warning says how to render it. Returns the path of the drawing (or of the ``.dot`` file
    when no drawing was made).
    """
    import shutil
    import subprocess
    import warnings
    text = _dot_text(obj, print_type, legend)
    outfile = outfile or f"symconv_graph.{format or 'png'}"
    format = format or (outfile.rsplit(".", 1)[1] if "." in os.path.basename(outfile)
                        else "png")
    dot_path = outfile if outfile.endswith(".dot") else os.path.splitext(outfile)[0] + ".dot"
    with open(dot_path, "w") as fh:
        fh.write(text)
    if outfile.endswith(".dot"):
        return dot_path
    if shutil.which("dot") is None:
        warnings.warn(f"pydotprint: Graphviz's 'dot' program is not installed, so {outfile} "
                      f"was not drawn; wrote the graph to {dot_path} instead. Install Graphviz "
                      "(apt-get install graphviz, brew install graphviz or conda install "
                      f"graphviz), then: dot -T{format} {dot_path} -o {outfile}", stacklevel=2)
        return dot_path
    done = subprocess.run(["dot", f"-T{format}", dot_path, "-o", outfile], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pydotprint: dot failed to draw {outfile}: {done.stderr.strip()}")
    return outfile


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


__all__: Sequence[str] = ["debugprint", "pp", "pydotprint"]


pprint = pp   # Theano's name for the pretty printer


class Print:
    """``Print(message, attrs)(x)``: an identity that prints ``message`` and the value of ``x``
    (or of the given attributes, e.g. ``('shape',)``) each time the function runs."""

    def __init__(self, message: str = "", attrs: tuple = ("__str__",),
                 global_fn: Any = None) -> None:
        if global_fn is not None:
            raise ValueError("Print: global_fn is not supported")
        self.message, self.attrs = message, tuple(attrs)

    def __call__(self, x: Any) -> Variable:
        from symconv.ops.extra import print_op
        return print_op(x, message=self.message, attrs=self.attrs)
