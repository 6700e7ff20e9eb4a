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
_LOW31 = (1 << 31) - 1
_LANES = 1 << 14   # how many (stream, block) recurrences run side by side in one NumPy op

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


def raw_draws(rstate: np.ndarray, n: int, dtype: str | None = None) -> np.ndarray:
    """The n integers in [1, M1] Theano's mrg_uniform scales, in its element order; with
    ``dtype`` float32 or float64, already scaled as ``scale`` does (one pass less over memory).

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
        return np.empty(0, dtype or np.uint64)
    steps = -(-n // streams)
    blocks = max(1, min(steps, _LANES // streams))
    per = -(-steps // blocks)
    blocks = -(-steps // per)
    starts = [np.asarray(rstate, np.int64)]
    mats = jump_matrices(per)
    for _ in range(blocks - 1):
        starts.append(jump(starts[-1], mats))
    lanes = np.stack(starts)                   # (blocks, streams, 6)
    # uint64 lanes: a value v in [0, 2m) reduces to min(v, v - m), as v - m wraps when v < m
    x11, x12, x13, x21, x22, x23 = (lanes[..., k].astype(np.uint64) for k in range(6))
    z = np.empty((blocks, per, streams), dtype or np.uint64)
    norm = {None: None, "float32": NORM32, "float64": np.float64(NORM64)}[dtype]
    t, u = np.empty_like(x11), np.empty_like(x11)
    d = np.empty_like(x11)
    m1, m2, low31 = np.uint64(M1), np.uint64(M2), np.uint64(_LOW31)
    for j in range(per):
        # x1: (2^22 x12 + 129 x13) mod M1, with 2^31 = 1 (mod M1): fold the high bits once
        np.multiply(x12, np.uint64(4194304), out=t)
        np.multiply(x13, np.uint64(129), out=u)
        t += u
        np.right_shift(t, np.uint64(31), out=u)
        np.bitwise_and(t, low31, out=x13)      # x13's old value is dead: reuse its buffer
        x13 += u
        np.subtract(x13, m1, out=t)
        np.minimum(x13, t, out=x13)
        x11, x12, x13 = x13, x11, x12
        # x2: (2^15 x21 + 32769 x23) mod M2, with 2^31 = 21069 (mod M2)
        np.multiply(x21, np.uint64(32768), out=t)
        np.multiply(x23, np.uint64(32769), out=u)
        t += u
        np.right_shift(t, np.uint64(31), out=u)
        u *= np.uint64(21069)
        np.bitwise_and(t, low31, out=x23)
        x23 += u
        np.subtract(x23, m2, out=t)
        np.minimum(x23, t, out=x23)
        x21, x22, x23 = x23, x21, x22
        # Theano's x11 - x21, plus M1 when x11 <= x21: ((x11 + M1 - 1 - x21) mod M1) + 1
        if norm is None:
            d = z[:, j, :]
        np.add(x11, np.uint64(M1 - 1), out=d)
        d -= x21
        np.subtract(d, m1, out=t)
        np.minimum(d, t, out=d)
        d += np.uint64(1)
        if norm is not None:   # C: the int becomes a float of the output dtype, times NORM
            np.multiply(d, norm, out=z[:, j, :], dtype=z.dtype, casting="unsafe")
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
