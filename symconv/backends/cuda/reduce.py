"""Reduction kernels: sum, prod, max, min, argmax, argmin, any, all over any set of axes.

The input is read through strides: the kept axes index the (contiguous) output, the reduced
axes are walked in row-major order, so the flattened reduced index ``j`` is Theano's argmax
index over several axes. Two shapes of kernel: one thread per output (many outputs or short
reductions) and one block per output with a shared-memory tree (long reductions).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from symconv.backends.cuda.elemwise import INDEX_TYPES
from symconv.backends.cuda.preamble import COMPUTE, FLOAT_DTYPES, PREAMBLE, STORAGE, load, store

KINDS = ("sum", "prod", "max", "min", "argmax", "argmin", "any", "all")
BLOCK = 256


def _extreme(dtype: str, lowest: bool) -> str:
    """The identity of max (lowest=True) or min over ``dtype``, as a C expression."""
    ctype = COMPUTE[dtype]
    if dtype in FLOAT_DTYPES:
        return f"(({ctype})({'-' if lowest else ''}INFINITY))"
    if dtype == "bool":
        return "false" if lowest else "true"
    info = np.iinfo(dtype)
    value = info.min if lowest else info.max
    if value < 0:   # -2**63 has no literal: write it as (-2**63 + 1) - 1
        return f"(({ctype})({value + 1}LL - 1))"
    return f"(({ctype}){value}ULL)"


def acc_dtype(kind: str, in_dtype: str, out_dtype: str) -> str:
    """The dtype values are accumulated in."""
    if kind in ("argmax", "argmin", "max", "min"):
        return in_dtype
    if kind in ("any", "all"):
        return "bool"
    return out_dtype


def _combine(kind: str) -> str:
    """C statements merging (bv, bi) into the accumulator (av, ai)."""
    if kind == "sum":
        return "av = av + bv;"
    if kind == "prod":
        return "av = av * bv;"
    if kind in ("max", "min"):
        return f"av = sc_{kind}(av, bv);"
    if kind == "any":
        return "av = av || bv;"
    if kind == "all":
        return "av = av && bv;"
    better = ">" if kind == "argmax" else "<"
    # NaN wins (NumPy returns the first NaN); ties go to the smaller index
    return ("{ const bool an = av != av, bn = bv != bv; bool take;\n"
            "          if (an || bn) take = bn && (!an || bi < ai);\n"
            f"          else take = bv {better} av || (bv == av && bi < ai);\n"
            "          if (take) { av = bv; ai = bi; } }")


def _identity(kind: str, dtype: str) -> str:
    return {"sum": f"(({COMPUTE[dtype]})0)", "prod": f"(({COMPUTE[dtype]})1)",
            "any": "false", "all": "true",
            "max": _extreme(dtype, True), "argmax": _extreme(dtype, True),
            "min": _extreme(dtype, False), "argmin": _extreme(dtype, False)}[kind]


def reduce_source(kind: str, in_dtype: str, out_dtype: str, kept_ndim: int, red_ndim: int,
                  index: str = "int32", per_block: bool = False) -> tuple[str, str]:
    """``(kernel name, source)`` reducing a strided input to a contiguous output.

    Arguments: x, out, n_out, n_red, kept sizes 1.., reduced sizes 1.., kept strides,
    reduced strides (element strides of x).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reduction {kind!r}")
    idx = INDEX_TYPES[index]
    acc = acc_dtype(kind, in_dtype, out_dtype)
    atype = COMPUTE[acc]
    arg = kind.startswith("arg")
    red_ndim = max(red_ndim, 1)
    params = [f"const {STORAGE[in_dtype]}* __restrict__ x",
              f"{STORAGE[out_dtype]}* __restrict__ out", f"const {idx} n_out",
              f"const {idx} n_red"]
    params += [f"const {idx} kd{k}" for k in range(1, kept_ndim)]
    params += [f"const {idx} rd{k}" for k in range(1, red_ndim)]
    params += [f"const {idx} ks{k}" for k in range(kept_ndim)]
    params += [f"const {idx} rs{k}" for k in range(red_ndim)]

    def offset(var: str, dims: str, strides: str, ndim: int, target: str) -> list[str]:
        if ndim == 0:
            return [f"{idx} {target} = 0;"]
        out = [f"{idx} {target} = 0;", f"{{ {idx} r = {var};"]
        for k in range(ndim - 1, 0, -1):
            out.append(f"  {{ const {idx} c = r % {dims}{k}; r /= {dims}{k}; "
                       f"{target} += c * {strides}{k}; }}")
        out.append(f"  {target} += r * {strides}0; }}")
        return out

    value = load(in_dtype, "x[base + off]")
    if kind in ("any", "all"):
        value = f"({value} != 0)"
    take = ([f"const {atype} bv = ({atype})({value});", "const long long bi = j;",
             _combine(kind)])
    result = "ai" if arg else "av"
    init = [f"{atype} av = {_identity(kind, acc)};", "long long ai = 0x7fffffffffffffffLL;"]
    lines: list[str] = []
    if per_block:
        lines += [f"__shared__ {atype} sv[{BLOCK}];", f"__shared__ long long si[{BLOCK}];",
                  f"for ({idx} o = blockIdx.x; o < n_out; o += gridDim.x) {{"]
        lines += ["  " + s for s in offset("o", "kd", "ks", kept_ndim, "base")]
        lines += ["  " + s for s in init]
        lines += [f"  for ({idx} j = threadIdx.x; j < n_red; j += blockDim.x) {{"]
        lines += ["    " + s for s in offset("j", "rd", "rs", red_ndim, "off") + take]
        lines += ["  }", "  sv[threadIdx.x] = av; si[threadIdx.x] = ai;", "  __syncthreads();",
                  "  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {",
                  "    if (threadIdx.x < s) {",
                  f"      const {atype} bv = sv[threadIdx.x + s];",
                  "      const long long bi = si[threadIdx.x + s];",
                  "      " + _combine(kind),
                  "      sv[threadIdx.x] = av; si[threadIdx.x] = ai;",
                  "    }", "    __syncthreads();", "  }"]
        lines += [f"  if (threadIdx.x == 0) out[o] = {store(out_dtype, result)};",
                  "  __syncthreads();", "}"]
    else:
        lines += [f"for ({idx} o = ({idx})blockIdx.x * blockDim.x + threadIdx.x; o < n_out;",
                  f"     o += ({idx})blockDim.x * gridDim.x) {{"]
        lines += ["  " + s for s in offset("o", "kd", "ks", kept_ndim, "base")]
        lines += ["  " + s for s in init]
        lines += [f"  for ({idx} j = 0; j < n_red; ++j) {{"]
        lines += ["    " + s for s in offset("j", "rd", "rs", red_ndim, "off") + take]
        lines += ["  }", f"  out[o] = {store(out_dtype, result)};", "}"]
    body = ("(\n    " + ",\n    ".join(params) + ") {\n"
            + "\n".join("    " + s for s in lines) + "\n}\n")
    name = f"sc_{kind}_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    return name, f'{PREAMBLE}\nextern "C" __global__ void {name}{body}'


def split_axes(shape: Sequence[int], strides: Sequence[int], axes: Sequence[int]
               ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(kept sizes, kept strides, reduced sizes, reduced strides) with size-1 axes dropped and
    neighbouring axes merged where the strides allow it (order within each group kept)."""
    from symconv.backends.cuda.elemwise import collapse
    kept = [a for a in range(len(shape)) if a not in axes]
    red = [a for a in range(len(shape)) if a in axes]
    groups = []
    for group in (kept, red):
        sizes = [shape[a] for a in group]
        if not sizes or all(s == 1 for s in sizes):
            groups.append(((), ()))
            continue
        merged, (st,) = collapse(sizes, [[strides[a] for a in group]])
        groups.append((merged, st))
    (kd, ks), (rd, rs) = groups
    return tuple(kd), tuple(ks), tuple(rd), tuple(rs)


def use_block(n_out: int, n_red: int) -> bool:
    """Block-per-output when there are few outputs, each over many elements."""
    return n_red > 64 and n_out < 2048
