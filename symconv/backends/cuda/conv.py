"""im2col / col2im kernels for conv2d as GEMM (NCHW images, (O, C/groups, kh, kw) filters).

For a chunk of ``nb`` images the columns matrix is ``cols[(c * kh + i) * kw + j, n * P + p]``
(P = OH * OW output positions): row blocks of ``Cg * kh * kw`` rows belong to one group, so
``cols.reshape(G, Kg, nb * P)`` feeds one GEMM batched over groups. col2im gathers (one thread
per input element, summing the taps that read it): deterministic and free of atomics.
Geometry is passed at run time: one kernel per (dtype, index width).
"""
from __future__ import annotations

import hashlib

from symconv.backends.cuda.elemwise import INDEX_TYPES
from symconv.backends.cuda.preamble import COMPUTE, PREAMBLE, STORAGE, load, store

_GEOMETRY = ("nb", "C", "H", "W", "kh", "kw", "OH", "OW", "sh", "sw", "ph", "pw", "dh", "dw")


def im2col_source(dtype: str, index: str = "int32") -> tuple[str, str]:
    """``(kernel name, source)``: (x, cols, nb, C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh,
    dw); x is the chunk's contiguous (nb, C, H, W) images, cols is (C * kh * kw, nb * OH * OW)."""
    idx, st = INDEX_TYPES[index], STORAGE[dtype]
    params = [f"const {st}* __restrict__ x", f"{st}* __restrict__ cols"]
    params += [f"const {idx} {g}" for g in _GEOMETRY]
    zero = store(dtype, "0")
    lines = [
        f"const {idx} P = OH * OW, NP = nb * P, n_all = C * kh * kw * NP;",
        f"for ({idx} e = ({idx})blockIdx.x * blockDim.x + threadIdx.x; e < n_all;",
        f"     e += ({idx})blockDim.x * gridDim.x) {{",
        f"  const {idx} col = e % NP, row = e / NP;",
        f"  const {idx} n = col / P, p = col % P, oh = p / OW, ow = p % OW;",
        f"  const {idx} j = row % kw, i = (row / kw) % kh, c = row / (kw * kh);",
        f"  const {idx} h = oh * sh + i * dh - ph, w = ow * sw + j * dw - pw;",
        "  cols[e] = (h >= 0 && h < H && w >= 0 && w < W) ? "
        f"x[((n * C + c) * H + h) * W + w] : {zero};",
        "}",
    ]
    return _finish("im2col", params, lines)


def col2im_source(dtype: str, index: str = "int32") -> tuple[str, str]:
    """``(kernel name, source)``: (cols, gx, nb, C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh,
    dw); gx[n, c, h, w] = sum of cols over the (tap, output) pairs that read x[n, c, h, w]."""
    idx, st, acc = INDEX_TYPES[index], STORAGE[dtype], COMPUTE[dtype]
    params = [f"const {st}* __restrict__ cols", f"{st}* __restrict__ gx"]
    params += [f"const {idx} {g}" for g in _GEOMETRY]
    lines = [
        f"const {idx} P = OH * OW, NP = nb * P, n_all = nb * C * H * W;",
        f"for ({idx} e = ({idx})blockIdx.x * blockDim.x + threadIdx.x; e < n_all;",
        f"     e += ({idx})blockDim.x * gridDim.x) {{",
        f"  const {idx} w = e % W, h = (e / W) % H, c = (e / (W * H)) % C, n = e / (W * H * C);",
        f"  {acc} a = 0;",
        f"  for ({idx} i = 0; i < kh; ++i) {{",
        f"    const {idx} hh = h + ph - i * dh;",
        "    if (hh < 0 || hh % sh != 0 || hh / sh >= OH) continue;",
        f"    for ({idx} j = 0; j < kw; ++j) {{",
        f"      const {idx} ww = w + pw - j * dw;",
        "      if (ww < 0 || ww % sw != 0 || ww / sw >= OW) continue;",
        f"      const {idx} row = (c * kh + i) * kw + j;",
        f"      a += {load(dtype, 'cols[row * NP + n * P + (hh / sh) * OW + ww / sw]')};",
        "    }",
        "  }",
        f"  gx[e] = {store(dtype, 'a')};",
        "}",
    ]
    return _finish("col2im", params, lines)


def _finish(kind: str, params: list[str], lines: list[str]) -> tuple[str, str]:
    body = ("(\n    " + ",\n    ".join(params) + ") {\n"
            + "\n".join("    " + s for s in lines) + "\n}\n")
    name = f"sc_{kind}_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    return name, f'{PREAMBLE}\nextern "C" __global__ void {name}{body}'
