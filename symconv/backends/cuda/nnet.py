"""Row-wise kernels over the last axis: softmax, logsoftmax, softmax cross-entropy and its gradient.

One warp per row (rows are classifier outputs: a few to a few thousand classes); the row max
and sum are warp shuffles, so a row costs two reads of the input and one write.
"""
from __future__ import annotations

import hashlib

from symconv.backends.cuda.preamble import COMPUTE, PREAMBLE, STORAGE, load, store

KINDS = ("softmax", "logsoftmax", "xent", "xent_grad")

_WARP_REDUCE = r"""
template <typename T> __device__ __forceinline__ T sc_warp_max(T v) {
    for (int s = 16; s > 0; s >>= 1) v = sc_max(v, __shfl_xor_sync(0xffffffffu, v, s));
    return v;
}
template <typename T> __device__ __forceinline__ T sc_warp_sum(T v) {
    for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
}
"""


def rowwise_source(kind: str, in_dtype: str, out_dtype: str,
                   label_dtype: str | None = None) -> tuple[str, str]:
    """``(kernel name, source)`` of a row-wise kernel over contiguous ``rows x cols`` input.

    softmax / logsoftmax(x, y, rows, cols): y has x's shape.
    xent(x, labels, nll, rows, cols): nll[r] = logsumexp(x[r]) - x[r, labels[r]].
    xent_grad(g, x, labels, gx, rows, cols): gx[r] = g[r] * (softmax(x[r]) - onehot(labels[r])).
    Arithmetic is in the output's compute type (float for float16 and float32).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown row-wise kernel {kind!r}")
    acc = COMPUTE[out_dtype]
    xs = STORAGE[in_dtype]
    params = []
    if kind == "xent_grad":
        params.append(f"const {STORAGE[out_dtype]}* __restrict__ g")
    params.append(f"const {xs}* __restrict__ x")
    if kind.startswith("xent"):
        params.append(f"const {STORAGE[label_dtype]}* __restrict__ labels")
    params += [f"{STORAGE[out_dtype]}* __restrict__ y", "const long long rows",
               "const long long cols"]
    value = f"(({acc}){load(in_dtype, 'xr[j]')})"
    lines = [
        "const int lane = threadIdx.x & 31;",
        "const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;",
        "const long long n_warps = ((long long)gridDim.x * blockDim.x) >> 5;",
        "for (long long r = warp; r < rows; r += n_warps) {",
        f"  const {xs}* xr = x + r * cols;",
        f"  {acc} m = -INFINITY;",
        f"  for (long long j = lane; j < cols; j += 32) m = sc_max(m, {value});",
        "  m = sc_warp_max(m);",
        f"  {acc} s = 0;",
        f"  for (long long j = lane; j < cols; j += 32) s += exp({value} - m);",
        "  s = sc_warp_sum(s);",
    ]
    if kind == "softmax":
        lines.append("  for (long long j = lane; j < cols; j += 32) "
                     f"y[r * cols + j] = {store(out_dtype, f'exp({value} - m) / s')};")
    elif kind == "logsoftmax":
        lines += [f"  const {acc} lse = log(s);",
                  "  for (long long j = lane; j < cols; j += 32) "
                  f"y[r * cols + j] = {store(out_dtype, f'({value} - m) - lse')};"]
    elif kind == "xent":
        lines += ["  const long long t = (long long)labels[r];",
                  "  if (lane == 0) {",
                  f"    const {acc} picked = (t >= 0 && t < cols) ? "
                  f"({acc}){load(in_dtype, 'xr[t]')} : ({acc})NAN;",
                  f"    y[r] = {store(out_dtype, 'log(s) + m - picked')};",
                  "  }"]
    else:
        lines += ["  const long long t = (long long)labels[r];",
                  f"  const {acc} gr = ({acc}){load(out_dtype, 'g[r]')};",
                  "  for (long long j = lane; j < cols; j += 32) {",
                  f"    const {acc} p = exp({value} - m) / s - (j == t ? ({acc})1 : ({acc})0);",
                  f"    y[r * cols + j] = {store(out_dtype, 'gr * p')};",
                  "  }"]
    lines.append("}")
    body = ("(\n    " + ",\n    ".join(params) + ") {\n"
            + "\n".join("    " + s for s in lines) + "\n}\n")
    name = f"sc_{kind}_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    return name, f'{PREAMBLE}{_WARP_REDUCE}\nextern "C" __global__ void {name}{body}'
