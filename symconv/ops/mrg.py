"""MRG31k3p arithmetic (L'Ecuyer & Touzin 2000) as Theano 1.0.5's rng_mrg runs it, vectorised.

A state row is ``(x11, x12, x13, x21, x22, x23)``: two linear recurrences,
``x1[n] = (2^22 x1[n-2] + (2^7 + 1) x1[n-3]) mod M1`` and
``x2[n] = (2^15 x2[n-1] + (2^15 + 1) x2[n-3]) mod M2``. Because both are linear, k steps
are one 3x3 matrix power (``A^k s mod m``); substreams start 2^72 steps apart and each
``MRG_RandomStreams`` call moves the master state 2^134 steps on, as in Theano.
"""
from __future__ import annotations

import numpy as np

M1 = 2147483647          # 2^31 - 1
M2 = 2147462579          # 2^31 - 21069
A1 = ((0, 4194304, 129), (1, 0, 0), (0, 1, 0))     # one step of component 1
A2 = ((32768, 0, 32769), (1, 0, 0), (0, 1, 0))     # one step of component 2
NORM64 = 4.656612873077392578125e-10               # 2^-31, exact in float64
NORM32 = np.float32(4.6566126e-10)                 # Theano's C literal 4.6566126e-10f
NORM16 = np.float16(3.0458e-05)                    # Theano's perform() for float16
_LANES = 1 << 16   # how many (stream, block) recurrences run side by side in one NumPy op

Matrix = tuple[tuple[int, int, int], ...]


def matmul_mod(a: Matrix, b: Matrix, m: int) -> Matrix:
    """(a @ b) mod m in exact Python integers."""
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) % m for j in range(3))
                 for i in range(3))


def matpow_mod(a: Matrix, k: int, m: int) -> Matrix:
    """a^k mod m by repeated squaring (k may be 2^134)."""
    result: Matrix = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    while k:
        if k & 1:
            result = matmul_mod(result, a, m)
        a = matmul_mod(a, a, m)
        k >>= 1
    return result


def jump_matrices(k: int) -> tuple[Matrix, Matrix]:
    """The two component matrices that advance a state by k steps."""
    return matpow_mod(A1, k, M1), matpow_mod(A2, k, M2)


A1P72, A2P72 = jump_matrices(2 ** 72)
A1P134, A2P134 = jump_matrices(2 ** 134)


def _matvec(a: Matrix, s: np.ndarray, m: int) -> np.ndarray:
    # Theano's DotModulo: sum_j ((s_j * a_ij) mod m), then mod m; products stay below 2^62
    out = np.zeros(s.shape, np.int64)
    for i in range(3):
        acc = np.zeros(s.shape[:-1], np.int64)
        for j in range(3):
            if a[i][j]:
                acc += (s[..., j] * a[i][j]) % m
        out[..., i] = acc % m
    return out


def jump(states: np.ndarray, mats: tuple[Matrix, Matrix]) -> np.ndarray:
    """Every state row (..., 6) advanced by the steps ``mats`` encode; int64 result."""
    s = np.asarray(states, np.int64)
    return np.concatenate([_matvec(mats[0], s[..., :3], M1), _matvec(mats[1], s[..., 3:], M2)],
                          axis=-1)


def substream_states(rstate: np.ndarray, n_streams: int) -> np.ndarray:
    """Theano's ``get_substream_rstates``: row i is ``rstate`` jumped i * 2^72 steps (int32)."""
    if n_streams <= 0:
        raise ValueError(f"the number of streams must be positive, got {n_streams}")
    rows = np.empty((n_streams, 6), np.int64)
    rows[0] = rstate
    have, mats = 1, (A1P72, A2P72)
    while have < n_streams:   # rows [have, 2 have) are rows [0, have) moved have * 2^72 steps
        take = min(have, n_streams - have)
        rows[have:have + take] = jump(rows[:take], mats)
        mats = (matmul_mod(mats[0], mats[0], M1), matmul_mod(mats[1], mats[1], M2))
        have += take
    return rows.astype(np.int32)


def advance(rstate: np.ndarray, n: int) -> np.ndarray:
    """The state matrix after drawing n numbers: stream i made ceil((n - i) / S) steps."""
    rstate = np.asarray(rstate)
    streams = rstate.shape[0]
    if n == 0:
        return rstate.copy()
    steps, extra = divmod(n, streams)
    out = np.empty(rstate.shape, np.int32)
    out[extra:] = jump(rstate[extra:], jump_matrices(steps))
    if extra:
        out[:extra] = jump(rstate[:extra], jump_matrices(steps + 1))
    return out


def raw_draws(rstate: np.ndarray, n: int) -> np.ndarray:
    """The n integers in [1, M1] Theano's mrg_uniform scales, in its element order.

    Element i comes from stream i % S at its step i // S. The recurrences of all streams run
    side by side; when there are few streams, each one's steps are also cut into blocks whose
    start states are jumps, so every NumPy operation works on about ``_LANES`` numbers.
    """
    rstate = np.asarray(rstate)
    if rstate.ndim != 2 or rstate.shape[1] != 6:
        raise ValueError(f"an MRG state must be an (n_streams, 6) int32 matrix, got shape "
                         f"{rstate.shape}")
    streams = rstate.shape[0]
    if n == 0:
        return np.empty(0, np.int64)
    steps = -(-n // streams)
    blocks = max(1, min(steps, _LANES // streams))
    per = -(-steps // blocks)
    blocks = -(-steps // per)
    starts = [np.asarray(rstate, np.int64)]
    mats = jump_matrices(per)
    for _ in range(blocks - 1):
        starts.append(jump(starts[-1], mats))
    lanes = np.stack(starts)                   # (blocks, streams, 6)
    x11, x12, x13, x21, x22, x23 = (np.ascontiguousarray(lanes[..., k]) for k in range(6))
    z = np.empty((blocks, per, streams), np.int64)
    t1 = np.empty_like(x11)
    t2 = np.empty_like(x11)
    for j in range(per):
        # y1 = (2^22 x12 + 129 x13) mod M1; Theano's shift-and-subtract form gives the same
        np.multiply(x12, 4194304, out=t1)
        t1 += x13 * 129
        np.remainder(t1, M1, out=x13)          # x13's old value is dead: reuse its buffer
        x11, x12, x13 = x13, x11, x12
        np.multiply(x21, 32768, out=t2)
        t2 += x23 * 32769
        np.remainder(t2, M2, out=x23)
        x21, x22, x23 = x23, x21, x22
        d = z[:, j, :]
        np.subtract(x11, x21, out=d)
        d += (d <= 0) * M1                     # x11 <= x21: add M1, so d is in [1, M1]
    return z.reshape(-1)[:n]


def scale(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Theano's conversion of raw draws to floats in (0, 1] for ``dtype``."""
    if dtype == "float64":
        return raw * NORM64
    if dtype == "float32":    # C: int32 -> float, then a float32 product
        return raw.astype(np.float32) * NORM32
    if dtype == "float16":    # perform(): ((d & 0x7fff) + 1) * NORM16 in float64, stored as f16
        return (((raw & 0x7FFF) + 1) * np.float64(NORM16)).astype(np.float16)
    raise TypeError(f"mrg_uniform: dtype must be float16, float32 or float64, got {dtype!r}")
