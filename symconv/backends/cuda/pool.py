"""Pooling kernels over the last two axes, with Theano's semantics (see backends/numpy_pool.py).

Forward: one thread per output, over the window clipped to the input (padding never wins a max
and adds nothing to a sum). Backward: one thread per input element, gathering from every window
that covers it, so there are no atomics and the result is deterministic; for 'max' every
element equal to its window's maximum receives the window's gradient (ties included).
Window geometry is passed at run time, so there is one kernel per (mode, dtype, index width).
"""
from __future__ import annotations

import hashlib

from symconv.backends.cuda.elemwise import INDEX_TYPES
from symconv.backends.cuda.preamble import COMPUTE, PREAMBLE, STORAGE, load, store
from symconv.ops.pool import MODES

_GEOMETRY = ("B", "H", "W", "OH", "OW", "wh", "ww", "sh", "sw", "ph", "pw")


def _divisor(idx: str, mode: str, hs: str, ws: str) -> list[str]:
    """C lines defining ``div``: the window size the average modes divide by."""
    if mode == "average_inc_pad":   # padding counts; the window is clipped to the padded input
        return [f"const {idx} div = (min({hs} + wh, H + ph) - {hs}) * "
                f"(min({ws} + ww, W + pw) - {ws});"]
    return [f"const {idx} div = (min({hs} + wh, H) - max({hs}, ({idx})0)) * "
            f"(min({ws} + ww, W) - max({ws}, ({idx})0));"]


def pool_source(mode: str, dtype: str, index: str = "int32") -> tuple[str, str]:
    """``(kernel name, source)`` of pool2d forward: (x, y, B, H, W, OH, OW, wh, ww, sh, sw,
    ph, pw) over contiguous (B, H, W) input and (B, OH, OW) output."""
    if mode not in MODES:
        raise ValueError(f"pool2d: unknown mode {mode!r}")
    idx, acc = INDEX_TYPES[index], COMPUTE[dtype]
    params = [f"const {STORAGE[dtype]}* __restrict__ x", f"{STORAGE[dtype]}* __restrict__ y"]
    params += [f"const {idx} {g}" for g in _GEOMETRY]
    update = "a = sc_max(a, v);" if mode == "max" else "a += v;"
    lines = [
        f"const {idx} n = B * OH * OW;",
        f"for ({idx} o = ({idx})blockIdx.x * blockDim.x + threadIdx.x; o < n;",
        f"     o += ({idx})blockDim.x * gridDim.x) {{",
        f"  const {idx} ow = o % OW, t = o / OW, oh = t % OH, b = t / OH;",
        f"  const {idx} hs = oh * sh - ph, ws = ow * sw - pw;",
        f"  const {idx} h0 = max(hs, ({idx})0), h1 = min(hs + wh, H);",
        f"  const {idx} w0 = max(ws, ({idx})0), w1 = min(ws + ww, W);",
        f"  const {STORAGE[dtype]}* xb = x + b * H * W;",
        f"  {acc} a = {'-INFINITY' if mode == 'max' else '0'};",
        f"  for ({idx} h = h0; h < h1; ++h)",
        f"    for ({idx} w = w0; w < w1; ++w) {{",
        f"      const {acc} v = {load(dtype, 'xb[h * W + w]')};",
        f"      {update}",
        "    }",
    ]
    if mode.startswith("average"):
        lines += ["  " + s for s in _divisor(idx, mode, "hs", "ws")]
        lines.append(f"  a /= ({acc})div;")
    lines += [f"  y[o] = {store(dtype, 'a')};", "}"]
    return _finish("pool", params, lines)


def pool_grad_source(mode: str, dtype: str, index: str = "int32") -> tuple[str, str]:
    """``(kernel name, source)`` of pool2d's gradient: (x, y, gy, gx, B, H, W, OH, OW, wh, ww,
    sh, sw, ph, pw); y is only read for 'max'."""
    if mode not in MODES:
        raise ValueError(f"pool2d: unknown mode {mode!r}")
    idx, acc, st = INDEX_TYPES[index], COMPUTE[dtype], STORAGE[dtype]
    params = [f"const {st}* __restrict__ x", f"const {st}* __restrict__ y",
              f"const {st}* __restrict__ gy", f"{st}* __restrict__ gx"]
    params += [f"const {idx} {g}" for g in _GEOMETRY]
    lines = [
        f"const {idx} n = B * H * W;",
        f"for ({idx} i = ({idx})blockIdx.x * blockDim.x + threadIdx.x; i < n;",
        f"     i += ({idx})blockDim.x * gridDim.x) {{",
        f"  const {idx} w = i % W, t = i / W, h = t % H, b = t / H;",
        # windows oh with oh * sh <= h + ph < oh * sh + wh, within [0, OH)
        f"  const {idx} hp = h + ph, wp = w + pw;",
        f"  const {idx} oh0 = hp < wh ? 0 : (hp - wh) / sh + 1, oh1 = min(hp / sh + 1, OH);",
        f"  const {idx} ow0 = wp < ww ? 0 : (wp - ww) / sw + 1, ow1 = min(wp / sw + 1, OW);",
        f"  {acc} a = 0;",
    ]
    if mode == "max":
        lines.append(f"  const {acc} xv = {load(dtype, 'x[i]')};")
    lines += [f"  for ({idx} oh = oh0; oh < oh1; ++oh)",
              f"    for ({idx} ow = ow0; ow < ow1; ++ow) {{",
              f"      const {idx} o = (b * OH + oh) * OW + ow;"]
    if mode == "max":
        lines.append(f"      if ({load(dtype, 'y[o]')} == xv) a += {load(dtype, 'gy[o]')};")
    elif mode == "sum":
        lines.append(f"      a += {load(dtype, 'gy[o]')};")
    else:
        # parenthesised: the divisor subtracts the window start (it was off by 2 * pad)
        start_h, start_w = "(oh * sh - ph)", "(ow * sw - pw)"
        lines += ["      " + s for s in _divisor(idx, mode, start_h, start_w)]
        lines.append(f"      a += {load(dtype, 'gy[o]')} / ({acc})div;")
    lines += ["    }", f"  gx[i] = {store(dtype, 'a')};", "}"]
    return _finish("pool_grad", params, lines)


def _finish(kind: str, params: list[str], lines: list[str]) -> tuple[str, str]:
    body = ("(\n    " + ",\n    ".join(params) + ") {\n"
            + "\n".join("    " + s for s in lines) + "\n}\n")
    name = f"sc_{kind}_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    return name, f'{PREAMBLE}\nextern "C" __global__ void {name}{body}'
