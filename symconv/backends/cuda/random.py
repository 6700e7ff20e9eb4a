"""MRG31k3p uniform draws on the GPU: one thread per stream, the CPU kernel's element order
(element i from stream i % S at its step i // S) and arithmetic, so the same numbers.

GPU-only at run time (imported by ``symconv.backends.cupy``); ``mrg_uniform_source`` also
serves the NVRTC compile check on machines without a GPU.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from symconv.backends.cuda.lowerings import BLOCK, grid_for, lowering
from symconv.graph import Node
from symconv.ops import mrg

_NORM = {"float32": ("float", "4.6566126e-10f"),
         "float64": ("double", "4.656612873077392578125e-10")}


def mrg_uniform_source(dtype: str) -> tuple[str, str]:
    """``(kernel name, source)``: mrg(rstate int32[S, 6], out dtype[n], n, S)."""
    ctype, norm = _NORM[dtype]
    body = f"""
extern "C" __global__ void KERNEL(const int* __restrict__ rstate, {ctype}* __restrict__ out,
                                  const long long n, const long long streams) {{
  const long long M1 = {mrg.M1}LL, M2 = {mrg.M2}LL, LOW31 = 0x7fffffffLL;
  for (long long s = (long long)blockIdx.x * blockDim.x + threadIdx.x; s < streams;
       s += (long long)gridDim.x * blockDim.x) {{
    long long x11 = rstate[s * 6], x12 = rstate[s * 6 + 1], x13 = rstate[s * 6 + 2];
    long long x21 = rstate[s * 6 + 3], x22 = rstate[s * 6 + 4], x23 = rstate[s * 6 + 5];
    for (long long i = s; i < n; i += streams) {{
      long long t = x12 * 4194304LL + x13 * 129LL;          /* 2^31 = 1 (mod M1) */
      long long y = (t & LOW31) + (t >> 31);
      if (y >= M1) y -= M1;
      x13 = x12; x12 = x11; x11 = y;
      t = x21 * 32768LL + x23 * 32769LL;                     /* 2^31 = 21069 (mod M2) */
      y = (t & LOW31) + (t >> 31) * 21069LL;
      if (y >= M2) y -= M2;
      x23 = x22; x22 = x21; x21 = y;
      long long d = x11 - x21;
      if (d <= 0) d += M1;
      out[i] = (({ctype})(int)d) * {norm};
    }}
  }}
}}
"""
    name = f"sc_mrg_uniform_{dtype}_{hashlib.sha1(body.encode()).hexdigest()[:10]}"
    return name, body.replace("KERNEL", name)


@lowering("mrg_uniform")
def _mrg_uniform(backend: Any, node: Node) -> Any:
    dtype = node.out.dtype
    if dtype not in _NORM:                    # float16: the host kernel (Theano's perform)
        return backend.generic_thunk(node)
    kernel = backend.kernel(*mrg_uniform_source(dtype))
    cp = backend.xp

    def thunk(rstate: Any, size: Any) -> Any:
        shape = tuple(int(s) for s in backend.to_host(size))
        n = int(np.prod(shape, dtype=np.int64))
        if n > mrg.M1:
            raise ValueError("rng_mrg does not support more than (2**31 - 1) samples")
        state = cp.ascontiguousarray(cp.asarray(rstate, dtype=cp.int32))
        if state.ndim != 2 or state.shape[1] != 6:
            raise ValueError(f"an MRG state must be an (n_streams, 6) int32 matrix, got "
                             f"shape {state.shape}")
        out = cp.empty((n,), dtype)
        if n:
            streams = state.shape[0]
            kernel((grid_for(streams, BLOCK),), (BLOCK,),
                   (state, out, np.int64(n), np.int64(streams)))
        return out.reshape(shape)
    return thunk
