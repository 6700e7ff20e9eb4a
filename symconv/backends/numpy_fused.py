"""NumPy lowering of fused_elemwise: the scalar program compiled once into a Python function.

Each instruction becomes one ufunc call; a temporary whose last use is an instruction with the
same dtype and broadcast pattern receives that instruction's result through ``out=``, so the
node allocates only the temporaries it needs. The final instruction writes into the ``out``
buffer the executor passes (a dead input of the same dtype and shape), when there is one.
Theano's broadcast check runs on the fused node's inputs (see ``broadcast_checks``): with every
input of the output's ndim, any size-1 axis a node of the group would have broadcast without
declaring it is an axis of some input checked here, against the output size.
"""
from __future__ import annotations

import linecache
from typing import Any

import numpy as np

from symconv.backends.base import Backend, Thunk
from symconv.backends.numpy import with_broadcast_check
from symconv.graph import Node, get_op
from symconv.ops.fused import instruction_types


def _caller(xp: Any, name: str, params: tuple, in_dtypes: list[str], want: str
            ) -> tuple[Any, bool, bool]:
    """(callable, takes out=, needs dtype=) for one instruction."""
    op = get_op(name)
    ufunc_name = getattr(op.kernel, "ufunc", None)
    trial_args = [xp.ones((), dtype=d) for d in in_dtypes]
    if ufunc_name:
        fn = getattr(xp, ufunc_name)
        with np.errstate(all="ignore"):   # only the probe's dtype matters
            probe_dtype = np.dtype(fn(*trial_args).dtype).name
        if probe_dtype == want:
            return fn, True, False
        try:
            fn(*trial_args, dtype=want)
            return fn, True, True
        except TypeError:
            pass
    kernel, kw = op.kernel, dict(params)

    def call(*arrays: Any) -> Any:
        return xp.asarray(kernel(xp, *arrays, **kw)).astype(want, copy=False)
    return call, False, False


def fused_source(node: Node, xp: Any) -> tuple[str, dict[str, Any]]:
    """Python source of ``run(i0, i1, ..., out=None)`` and the names it needs."""
    program = node.kw["program"]
    types = instruction_types(program, [i.type for i in node.inputs])
    nin = len(node.inputs)
    last_use: dict[int, int] = {}
    for j, (_, args, _, _) in enumerate(program):
        for kind, k in args:
            if kind == "tmp":
                last_use[k] = j
    env: dict[str, Any] = {}
    lines = [f"def run({', '.join(f'i{k}' for k in range(nin))}, out=None):"]
    final = len(program) - 1
    for j, (name, args, want, params) in enumerate(program):
        in_dtypes = [node.inputs[k].dtype if kind == "in" else program[k][2]
                     for kind, k in args]
        fn, takes_out, needs_dtype = _caller(xp, name, params, in_dtypes, want)
        env[f"f{j}"] = fn
        operands = [f"i{k}" if kind == "in" else f"t{k}" for kind, k in args]
        extra = [f"dtype={want!r}"] if needs_dtype else []
        if takes_out and types[j].ndim > 0:    # 0-d ufunc results are NumPy scalars
            dead = [k for kind, k in args if kind == "tmp" and last_use[k] == j
                    and types[k] == types[j]]
            if j == final:
                reuse = f"t{dead[0]}" if dead else "None"
                extra.append(f"out=(out if out is not None else {reuse})")
            elif dead:
                extra.append(f"out=t{dead[0]}")
        lines.append(f"    t{j} = f{j}({', '.join(operands + extra)})  # {name}, of the fused "
                     f"node created at {node.out.trace}")
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
