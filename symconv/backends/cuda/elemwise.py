"""Elementwise kernels: a scalar program (one op, or a fused chain of them) -> one CUDA kernel.

The program is symconv.ops.fused.ScalarProgram, the one the NumPy generator and the NaN guard
read too (``program_of`` gives it for an elementwise or a fused node). Each step applies its
op's ``Scalar.c`` template to earlier values, converted to the operand dtypes the op's dtype
rule asks for. The kernel reads every input through per-axis element strides (0 on broadcast
axes), so broadcasting and non-contiguous views need no copies, and writes a contiguous
output. Axes that are contiguous for every operand are merged first (`collapse`), so most
calls run the 1-d kernel.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from symconv.backends.cuda.preamble import COMPUTE, PREAMBLE, STORAGE, load, store
from symconv.graph import get_op
from symconv.ops.elemwise import upcast
from symconv.ops.fused import ScalarProgram, Step, program_of  # noqa: F401  (program_of: here)

INDEX_TYPES = {"int32": "int", "int64": "long long"}


def operand_dtypes(rule: str, in_dtypes: Sequence[str], out_dtype: str) -> tuple[str, ...]:
    """The dtype each operand of a scalar template is computed in, from the op's dtype rule.

    Templates are written for operands of the output dtype ('upcast', 'float'); comparisons
    ('bool') compare in the inputs' common dtype; switch ('cond') keeps its condition; cast
    reads its input as it is.
    """
    if rule in ("upcast", "upcast_min8", "float"):
        return tuple(out_dtype for _ in in_dtypes)
    if rule == "bool":
        common = upcast(*in_dtypes)
        return tuple(common for _ in in_dtypes)
    if rule == "cond":
        return (in_dtypes[0],) + tuple(out_dtype for _ in in_dtypes[1:])
    if rule == "cast":
        return tuple(in_dtypes)
    raise ValueError(f"unknown elementwise dtype rule {rule!r}")


def _operand_types(program: ScalarProgram, step: Step) -> tuple[str, ...]:
    scalar = get_op(step.op).elemwise
    return operand_dtypes(scalar.dtype_rule, [program.dtype_of(a) for a in step.args],
                          step.dtype)


def template(program: ScalarProgram, step: Step) -> tuple[str, tuple[str, ...]]:
    """(C expression over ``{0}, {1}, ...``, the dtype each operand is converted to) of a step,
    from its op's ``Scalar`` record (symconv.ops.elemwise.Scalar)."""
    c = get_op(step.op).elemwise.c
    if "{dtype}" in c:
        c = c.replace("{dtype}", COMPUTE[step.dtype])
    return c, _operand_types(program, step)


def supported(program: ScalarProgram) -> bool:
    """Whether every dtype in the program has a C type (complex ones fall back to CuPy)."""
    dtypes = set(program.inputs) | {s.dtype for s in program.steps}
    for step in program.steps:
        dtypes |= set(_operand_types(program, step))
    return dtypes <= set(STORAGE)


def _param_type(dtype: str) -> str:
    # by-value scalars: bool travels as int, float16 as float (kernel arguments CuPy can pass)
    return {"bool": "int", "float16": "float"}.get(dtype, COMPUTE[dtype])


def scalar_argument(dtype: str, value: Any) -> np.generic:
    """The NumPy scalar to pass for a by-value input of ``dtype``."""
    value = np.asarray(value).reshape(())
    if dtype == "bool":
        return np.int32(bool(value))
    if dtype == "float16":
        return np.float32(value)
    return value.astype(dtype)[()]


def _convert(expr: str, have: str, want: str) -> str:
    if have == want:
        return expr
    return f"(({COMPUTE[want]})({expr}))"


def elemwise_source(program: ScalarProgram, ndim: int, index: str = "int32",
                    scalar_inputs: Sequence[bool] | None = None) -> tuple[str, str]:
    """``(kernel name, CUDA source)`` computing ``program`` over an ``ndim``-d output.

    Kernel arguments: per input a pointer (or a by-value scalar where ``scalar_inputs`` says),
    the output pointer, the element count, the sizes of axes 1..ndim-1, then per pointer input
    its element strides on every axis.
    """
    nin = len(program.inputs)
    scalar_inputs = tuple(scalar_inputs or (False,) * nin)
    idx = INDEX_TYPES[index]
    ndim = max(ndim, 1)
    params, lines = [], []
    pointers = [i for i in range(nin) if not scalar_inputs[i]]
    for i, dtype in enumerate(program.inputs):
        if scalar_inputs[i]:
            params.append(f"const {_param_type(dtype)} a{i}")
        else:
            params.append(f"const {STORAGE[dtype]}* __restrict__ p{i}")
    params.append(f"{STORAGE[program.dtype]}* __restrict__ out")
    params.append(f"const {idx} n")
    params += [f"const {idx} d{k}" for k in range(1, ndim)]
    params += [f"const {idx} s{i}_{k}" for i in pointers for k in range(ndim)]

    lines.append(f"    for ({idx} i = ({idx})blockIdx.x * blockDim.x + threadIdx.x; i < n;")
    lines.append(f"         i += ({idx})blockDim.x * gridDim.x) {{")
    if pointers:
        lines.append(f"        {idx} r = i;")
        lines.append("        " + " ".join(f"{idx} o{i} = 0;" for i in pointers))
        for k in range(ndim - 1, 0, -1):
            adds = " ".join(f"o{i} += c * s{i}_{k};" for i in pointers)
            lines.append(f"        {{ const {idx} c = r % d{k}; r /= d{k}; {adds} }}")
        lines.append("        " + " ".join(f"o{i} += r * s{i}_0;" for i in pointers))
    for i, dtype in enumerate(program.inputs):
        src = f"a{i}" if scalar_inputs[i] else load(dtype, f"p{i}[o{i}]")
        if scalar_inputs[i] and dtype == "bool":
            src = f"(a{i} != 0)"
        lines.append(f"        const {COMPUTE[dtype]} v{i} = {src};")
    for j, step in enumerate(program.steps):
        c, operand_types = template(program, step)
        operands = [_convert(f"v{a}", program.dtype_of(a), want)
                    for a, want in zip(step.args, operand_types)]
        expr = c.format(*operands)
        ctype = COMPUTE[step.dtype]
        if step.dtype == "float16":   # NumPy rounds every float16 result
            value = f"sc_h2f(sc_f2h((float)({expr})))"
        else:
            value = f"({ctype})({expr})"
        lines.append(f"        const {ctype} v{nin + j} = {value};")
    last = f"v{nin + len(program.steps) - 1}"
    lines.append(f"        out[i] = {store(program.dtype, last)};")
    lines.append("    }")
    body = "(\n    " + ",\n    ".join(params) + ") {\n" + "\n".join(lines) + "\n}\n"
    name = "sc_ew_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    return name, f'{PREAMBLE}\nextern "C" __global__ void {name}{body}'


def collapse(out_shape: Sequence[int], strides: Sequence[Sequence[int]]
             ) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge axes that are contiguous for every operand and drop size-1 axes.

    strides: per operand, element strides aligned with out_shape (0 where it broadcasts).
    Returns the collapsed shape (at least one axis) and each operand's collapsed strides.
    """
    axes = [a for a, size in enumerate(out_shape) if size != 1]
    shape: list[int] = []
    merged: list[list[int]] = [[] for _ in strides]
    for a in axes:
        size = out_shape[a]
        if shape and all(m[-1] == s[a] * size for m, s in zip(merged, strides)):
            shape[-1] *= size
            for m, s in zip(merged, strides):
                m[-1] = s[a]
            continue
        shape.append(size)
        for m, s in zip(merged, strides):
            m.append(s[a])
    if not shape:
        return (1,), [(0,) for _ in strides]
    return tuple(shape), [tuple(m) for m in merged]


def index_type(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> str:
    """'int32' when every element index and offset fits in 32 bits (faster division)."""
    limit = 2 ** 31 - 1
    total = int(np.prod(shape))
    reach = max([sum(abs(s) * (n - 1) for s, n in zip(st, shape)) for st in strides] or [0])
    return "int32" if total <= limit and reach <= limit else "int64"
