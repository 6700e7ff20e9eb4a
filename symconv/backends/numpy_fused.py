"""NumPy lowering of fused_elemwise: its scalar program compiled once into a Python function.

Each step (symconv.ops.fused.Step) becomes one ufunc call, its dtype found by the probe single
elementwise nodes use (``elementwise_call``); a temporary whose last use is a step with the same
dtype and broadcast pattern receives that step's result through ``out=``, so the node
allocates only the temporaries it needs. The final step writes into the ``out`` buffer the
executor passes (a dead input of the same dtype and shape), when there is one. Theano's
broadcast check runs on the fused node's inputs (``broadcast_check``): with every input of the
output's ndim, any size-1 axis a node of the group would have broadcast without declaring it
is an axis of some input checked here, against the output size.
"""
from __future__ import annotations

import linecache
from typing import Any

from symconv.backends.base import Backend, Thunk
from symconv.backends.numpy import elementwise_call, with_broadcast_check
from symconv.graph import Node, get_op
from symconv.ops.fused import ScalarProgram


def fused_source(node: Node, xp: Any) -> tuple[str, dict[str, Any]]:
    """Python source of ``run(i0, i1, ..., out=None)`` computing the node's scalar program,
    and the names it needs."""
    program: ScalarProgram = node.kw["program"]
    nin = len(program.inputs)
    types = program.types([i.type for i in node.inputs])
    last_use = program.last_uses()
    names = [f"i{k}" for k in range(nin)] + [f"t{j}" for j in range(len(program.steps))]
    env: dict[str, Any] = {}
    lines = [f"def run({', '.join(names[:nin])}, out=None):"]
    final = len(program.steps) - 1
    for j, step in enumerate(program.steps):
        fn, how = elementwise_call(xp, get_op(step.op), step.params,
                                   [program.dtype_of(a) for a in step.args], step.dtype)
        env[f"f{j}"] = fn
        operands = [names[a] for a in step.args]
        extra = [f"dtype={step.dtype!r}"] if how == "dtype" else []
        if how != "kernel" and types[j].ndim > 0:    # 0-d ufunc results are NumPy scalars
            dead = [a - nin for a in step.args if a >= nin and last_use[a] == j
                    and types[a - nin] == types[j]]
            if j == final:
                reuse = f"t{dead[0]}" if dead else "None"
                extra.append(f"out=(out if out is not None else {reuse})")
            elif dead:
                extra.append(f"out=t{dead[0]}")
        lines.append(f"    t{j} = f{j}({', '.join(operands + extra)})  # {step.op}, of the "
                     f"fused node created at {node.out.trace}")
    lines.append(f"    return t{final}")
    return "\n".join(lines) + "\n", env


def fused_lowering(backend: Backend, node: Node) -> Thunk:
    """The fused node as one generated function (accepts ``out=``, see module docstring)."""
    source, env = fused_source(node, backend.xp)
    filename = f"<fused_elemwise {id(node):x}>"
    exec(compile(source, filename, "exec"), env)
    # a NumPy warning raised here shows this line, which names the op and the user's line
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return with_broadcast_check(node, env["run"], takes_out=True)
