"""Random ops: MRG31k3p draws (``MRG_RandomStreams``) and NumPy ``RandomState`` draws
(``RandomStreams``).

A node has one output, so each generator is two ops over the same inputs: the draw and the
state after it. Both are pure functions of their inputs; they are marked ``nondeterministic``
so the rewrite engine never merges two draws or folds one into a constant. The state is a
shared variable whose default update is the state op, as Theano's ``default_update``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from symconv.graph import Constant, Op, TensorType, Variable
from symconv.ops import mrg
from symconv.ops import random_numpy


def _host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _static_size(size: Variable, ndim: int) -> tuple[int | None, ...]:
    if isinstance(size, Constant) and size.data.shape == (ndim,):
        return tuple(int(s) for s in size.data)
    return (None,) * ndim


def _check_size_type(op: str, size: Variable, ndim: int) -> None:
    if size.ndim != 1 or size.dtype[0] not in "iu":
        raise TypeError(f"{op}: size must be an integer vector, got {size} of type {size.type}")
    if size.type.shape[0] is not None and size.type.shape[0] != ndim:
        raise TypeError(f"{op}: size has {size.type.shape[0]} entries but ndim is {ndim}")


def _no_grad(g: Variable, out: Variable, *inputs: Variable, **params: Any) -> list[None]:
    return [None] * len(inputs)


def _sizes(size: Any) -> tuple[int, ...]:
    shape = tuple(int(s) for s in _host(size))
    if any(s < 0 for s in shape):
        raise ValueError(f"random draw: negative size {shape}")
    return shape


# ---- MRG31k3p -----------------------------------------------------------------------------

def _mrg_check(rstate: Variable, size: Variable, ndim: int, op: str) -> None:
    if rstate.dtype != "int32" or rstate.ndim != 2:
        raise TypeError(f"{op}: the state must be an int32 matrix, got {rstate} of type "
                        f"{rstate.type}")
    _check_size_type(op, size, ndim)


def _mrg_uniform_infer(rstate: Variable, size: Variable, dtype: str, ndim: int,
                       shape: tuple | None = None) -> TensorType:
    # shape: the static sizes known when size was a tuple (ints, constants or None)
    _mrg_check(rstate, size, ndim, "mrg_uniform")
    if dtype not in ("float16", "float32", "float64"):
        raise TypeError(f"mrg_uniform: dtype must be float16, float32 or float64, got {dtype!r}")
    if shape is not None and len(shape) != ndim:
        raise TypeError(f"mrg_uniform: static shape {shape} has not {ndim} entries")
    return TensorType(dtype, shape if shape is not None else _static_size(size, ndim))


def _mrg_uniform_kernel(xp: Any, rstate: Any, size: Any, dtype: str, ndim: int,
                        shape: tuple | None = None) -> Any:
    shape = _sizes(size)
    if len(shape) != ndim:
        raise ValueError(f"mrg_uniform: size {shape} has {len(shape)} entries, expected {ndim}")
    n = int(np.prod(shape, dtype=np.int64))
    if n > mrg.M1:
        raise ValueError("rng_mrg does not support more than (2**31 - 1) samples")
    if dtype == "float16":
        out = mrg.scale(mrg.raw_draws(_host(rstate), n), dtype).reshape(shape)
    else:
        out = mrg.raw_draws(_host(rstate), n, dtype).reshape(shape)
    return out if xp is np else xp.asarray(out)


mrg_uniform = Op("mrg_uniform", _mrg_uniform_infer, _mrg_uniform_kernel, _no_grad,
                 infer_vars=True, nondeterministic=True,
                 doc="Uniform draws in (0, 1] from MRG31k3p streams (Theano's mrg_uniform).")


def _mrg_state_infer(rstate: Variable, size: Variable, ndim: int) -> TensorType:
    _mrg_check(rstate, size, ndim, "mrg_uniform_state")
    return rstate.type


def _mrg_state_kernel(xp: Any, rstate: Any, size: Any, ndim: int) -> Any:
    # a NumPy array on every backend: int shared values, states included, live on the host
    n = int(np.prod(_sizes(size), dtype=np.int64))
    return mrg.advance(_host(rstate), n)


mrg_uniform_state = Op("mrg_uniform_state", _mrg_state_infer, _mrg_state_kernel, _no_grad,
                       infer_vars=True, nondeterministic=True,
                       doc="The MRG state after mrg_uniform drew prod(size) numbers from it.")


# ---- the arithmetic Theano's compiled C does around the draws ------------------------------
# Theano's g++ build contracts the fused ``u * (high - low) + low`` into one fused multiply-add,
# and its float32 log/sqrt/sin/cos are the C library's correctly rounded ones: these ops do the
# same with NumPy (FMA by error-free transformations; float32 functions through float64).

def _two_prod(a: Any, b: Any) -> tuple[Any, Any]:
    # Dekker: p + e == a * b exactly (Veltkamp split into 26-bit halves)
    p = a * b
    big = 134217729.0    # 2^27 + 1
    t = big * a
    ah = t - (t - a)
    t = big * b
    bh = t - (t - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def fma_kernel(xp: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c rounded once (the last bit may differ only in double-rounding ties)."""
    dtype = xp.result_type(a, b, c)
    if dtype != xp.float64:   # float32/16 products are exact in float64: one rounding there
        a64, b64, c64 = (xp.asarray(v, xp.float64) for v in (a, b, c))
        return (a64 * b64 + c64).astype(dtype)
    p, e = _two_prod(xp.asarray(a), xp.asarray(b))
    s = p + c
    v = s - p
    return s + (((p - (s - v)) + (c - v)) + e)     # Knuth's two-sum error plus the product's


def _fma_infer(a: TensorType, b: TensorType, c: TensorType) -> TensorType:
    from symconv.ops.elemwise import broadcast_shape, upcast
    dtype = upcast(a.dtype, b.dtype, c.dtype)
    if dtype not in ("float16", "float32", "float64"):
        raise TypeError(f"fma: inputs must be floats, got {a.dtype}, {b.dtype}, {c.dtype}")
    return TensorType(dtype, broadcast_shape("fma", [a, b, c]))


def _fma_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    from symconv.ops.elemwise import _prepare
    return _prepare(inputs, params)


fma = Op("fma", _fma_infer, fma_kernel, lambda g, out, a, b, c: [g * b, g * a, g],
         prepare=_fma_prepare,
         doc="a * b + c with one rounding, as Theano's compiled C computes u * (hi - lo) + lo.")


def _per_op(fn: Any, x: Any) -> Any:
    # one C library call on a float32 value: evaluate in float64, round once to float32
    return fn(x) if x.dtype == np.float64 else fn(x.astype(np.float64)).astype(x.dtype)


def _box_muller(u1: Any, u2: Any) -> tuple[Any, Any, Any]:
    """r, cos(theta), sin(theta) of Theano's Box-Muller, each step rounded as its C does."""
    r = _per_op(np.sqrt, np.asarray(-2.0, u1.dtype) * _per_op(np.log, u1))
    theta = np.asarray(2.0 * np.pi, u2.dtype) * u2
    return r, _per_op(np.cos, theta), _per_op(np.sin, theta)


def _box_muller_infer(u1: TensorType, u2: TensorType, *rest: TensorType) -> TensorType:
    if u1.dtype not in ("float16", "float32", "float64") or u1.ndim != 1 or u2 != u1:
        raise TypeError(f"box_muller: u1 and u2 must be float vectors of one type, got {u1} "
                        f"and {u2}")
    return TensorType(u1.dtype, (None,))


def _box_muller_kernel(xp: Any, u1: Any, u2: Any) -> Any:
    r, cos_t, sin_t = _box_muller(_host(u1), _host(u2))
    out = np.concatenate([r * cos_t, r * sin_t])
    return out if xp is np else xp.asarray(out)


box_muller = Op("box_muller", _box_muller_infer, _box_muller_kernel, _no_grad,
                doc="Normal draws z0 = r cos(theta), z1 = r sin(theta) from two uniform halves.")


def _truncated_kernel(xp: Any, u1: Any, u2: Any, u_fix: Any) -> Any:
    # Theano's assembly: valid z0, redrawn z0, valid z1, redrawn z1 (in that order)
    r, cos_t, sin_t = _box_muller(_host(u1), _host(u2))
    z0, z1 = r * cos_t, r * sin_t
    r_fix = _box_muller(_host(u_fix), _host(u_fix))[0]
    bad0 = (z0 < -2.0) | (z0 > 2.0)
    bad1 = (z1 < -2.0) | (z1 > 2.0)
    n0 = int(bad0.sum())
    if r_fix.size != n0 + int(bad1.sum()):
        raise ValueError(f"box_muller_truncated: {r_fix.size} redraws for "
                         f"{n0 + int(bad1.sum())} values outside [-2, 2]")
    out = np.concatenate([z0[~bad0], r_fix[:n0] * cos_t[bad0], z1[~bad1],
                          r_fix[n0:] * sin_t[bad1]])
    return out if xp is np else xp.asarray(out)


box_muller_truncated = Op(
    "box_muller_truncated", _box_muller_infer, _truncated_kernel, _no_grad,
    doc="Box-Muller keeping |z| <= 2 and redrawing the rest from u_fix (Theano's truncate).")


# ---- NumPy RandomState --------------------------------------------------------------------

def _rs_infer(state: Variable, size: Variable, *args: Variable, method: str, dtype: str,
              ndim: int, shape: tuple) -> TensorType:
    if state.dtype != "uint32" or state.ndim != 1:
        raise TypeError(f"{method}: the RandomState must be a uint32 state vector, got {state} "
                        f"of type {state.type}")
    if size.ndim != 1 or size.dtype[0] not in "iu":
        raise TypeError(f"{method}: size must be an integer vector, got {size.type}")
    return TensorType(dtype, shape)


def _rs_key(state: np.ndarray, size: np.ndarray, args: tuple, method: str) -> bytes:
    parts = [state.tobytes(), method.encode(), np.asarray(size, np.int64).tobytes()]
    for a in args:
        a = np.asarray(a)
        parts.append(f"{a.dtype}{a.shape}".encode() + a.tobytes())
    return b"|".join(parts)


# the state reached by the last few draws: the state op reads it instead of drawing twice
_AFTER: OrderedDict[bytes, np.ndarray] = OrderedDict()


def _rs_run(state: Any, size: Any, args: tuple, method: str) -> tuple[Any, np.ndarray]:
    state = _host(state)
    args = tuple(_host(a) for a in args)
    rng = random_numpy.decode_state(state)
    value = random_numpy.draw(rng, method, _sizes(size), args)
    new_state = random_numpy.encode_state(rng)
    _AFTER[_rs_key(state, size, args, method)] = new_state
    while len(_AFTER) > 16:
        _AFTER.popitem(last=False)
    return value, new_state


def _rs_kernel(xp: Any, state: Any, size: Any, *args: Any, method: str, dtype: str,
               ndim: int, shape: tuple) -> Any:
    value, _ = _rs_run(state, size, args, method)
    value = np.asarray(value, dtype=dtype)
    if value.ndim == 0 and ndim > 0:
        value = value.reshape((1,) * ndim)
    if value.ndim != ndim:
        raise ValueError(f"RandomStreams.{method}: the draw has {value.ndim} dimensions, "
                         f"expected {ndim}")
    return value if xp is np else xp.asarray(value)


rs_draw = Op("rs_draw", _rs_infer, _rs_kernel, _no_grad,
             infer_vars=True, nondeterministic=True,
             doc="A draw from a NumPy RandomState held as a uint32 state vector.")


def _rs_state_infer(state: Variable, size: Variable, *args: Variable, method: str
                    ) -> TensorType:
    return state.type


def _rs_state_kernel(xp: Any, state: Any, size: Any, *args: Any, method: str) -> Any:
    host = _host(state)
    args = tuple(_host(a) for a in args)
    new = _AFTER.get(_rs_key(host, size, args, method))
    if new is None:
        _, new = _rs_run(host, size, args, method)
    return new.copy()     # on the host on every backend, as the state's shared variable


rs_state = Op("rs_state", _rs_state_infer, _rs_state_kernel, _no_grad,
              infer_vars=True, nondeterministic=True,
              doc="The RandomState after the rs_draw with the same inputs.")


# ---- permute_row_elements ------------------------------------------------------------------

def _permute_infer(x: TensorType, perm: TensorType, inverse: bool) -> TensorType:
    if perm.dtype[0] not in "iu":
        raise TypeError(f"permute_row_elements: the permutation must be integers, got "
                        f"{perm.dtype}")
    if perm.ndim > x.ndim:
        raise TypeError(f"permute_row_elements: the permutation has {perm.ndim} dimensions, "
                        f"more than the input's {x.ndim}")
    return TensorType(x.dtype, (None,) * x.ndim)


def _permute_kernel(xp: Any, x: Any, perm: Any, inverse: bool) -> Any:
    shape = np.broadcast_shapes(x.shape[:-1], perm.shape[:-1]) + x.shape[-1:]
    x = xp.broadcast_to(x, shape)
    perm = xp.broadcast_to(perm, shape[:-1] + perm.shape[-1:])
    if not inverse:     # out[..., j] = x[..., perm[..., j]]
        return xp.take_along_axis(x, perm, axis=-1)
    out = xp.empty_like(x)          # out[..., perm[..., j]] = x[..., j]
    xp.put_along_axis(out, perm, x, axis=-1)
    return out


def _permute_grad(g: Variable, out: Variable, x: Variable, perm: Variable, inverse: bool
                  ) -> list[Variable | None]:
    return [permute_row_elements_op(g, perm, inverse=not inverse), None]


permute_row_elements_op = Op(
    "permute_row_elements", _permute_infer, _permute_kernel, _permute_grad,
    doc="Every row (last axis) of x reordered by the matching row of a permutation.")


def permute_row_elements(x: Any, perm: Any, inverse: bool = False) -> Variable:
    """Theano's ``permute_row_elements``: ``out[..., j] = x[..., perm[..., j]]``."""
    return permute_row_elements_op(x, perm, inverse=bool(inverse))


# ---- multinomial and choice from uniform draws (Theano's sandbox.multinomial) --------------

def _from_uniform_infer(pvals: TensorType, unis: TensorType, n: TensorType, odtype: str,
                        replace: bool | None = None) -> TensorType:
    if pvals.ndim != 2 or unis.ndim != 1 or n.ndim != 0:
        raise TypeError(f"multinomial/choice from uniform: pvals must be a matrix, unis a "
                        f"vector and n a scalar; got {pvals}, {unis}, {n}")
    dtype = pvals.dtype if odtype == "auto" else odtype
    if replace is None:
        return TensorType(dtype, pvals.shape)
    return TensorType("int64" if odtype == "auto" else odtype, (pvals.shape[0], None))


def _first_above(cums: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    above = cums > u[:, None]
    return above.any(axis=1), above.argmax(axis=1)


def _multinomial_kernel(xp: Any, pvals: Any, unis: Any, n: Any, odtype: str) -> Any:
    pvals, unis, n = _host(pvals), _host(unis), int(_host(n))
    rows = pvals.shape[0]
    if unis.shape[0] != rows * n:
        raise ValueError(f"multinomial_from_uniform: unis has {unis.shape[0]} draws, expected "
                         f"pvals.shape[0] * n = {rows * n}")
    z = np.zeros(pvals.shape, pvals.dtype if odtype == "auto" else odtype)
    cums = np.cumsum(pvals.astype(np.float64), axis=1)   # Theano sums in double, in order
    for c in range(n):
        hit, m = _first_above(cums, unis[c * rows:(c + 1) * rows].astype(np.float64))
        z[np.nonzero(hit)[0], m[hit]] += 1
    return z if xp is np else xp.asarray(z)


multinomial_from_uniform = Op(
    "multinomial_from_uniform", _from_uniform_infer, _multinomial_kernel, _no_grad,
    doc="Counts of n draws per row of pvals, each from one uniform (Theano's C kernel).")


def _choice_kernel(xp: Any, pvals: Any, unis: Any, n: Any, odtype: str, replace: bool) -> Any:
    p, unis, n = _host(pvals).copy(), _host(unis), int(_host(n))
    rows, outcomes = p.shape
    if n > outcomes:
        raise ValueError("Cannot sample without replacement n samples bigger than the size of "
                         "the distribution.")
    if unis.shape[0] != rows * n:
        raise ValueError(f"choice_from_uniform: unis has {unis.shape[0]} draws, expected "
                         f"pvals.shape[0] * n = {rows * n}")
    z = np.full((rows, n), -1, "int64" if odtype == "auto" else odtype)
    for c in range(n):
        cums = np.cumsum(p.astype(np.float64), axis=1)
        hit, m = _first_above(cums, unis[c * rows:(c + 1) * rows].astype(np.float64))
        idx = np.nonzero(hit)[0]
        z[idx, c] = m[idx]
        if replace or c == n - 1 or not idx.size:
            continue
        # Theano renormalises in the pvals dtype: sum = (cumsum up to m - p_m), p_m = 0,
        # then sum += p_k for k >= m in order, then the row is divided by it
        pm = p[idx, m[idx]]
        total = (cums[idx, m[idx]] - pm.astype(np.float64)).astype(p.dtype)
        p[idx, m[idx]] = 0
        for k in range(outcomes):
            take = k >= m[idx]
            total = np.where(take, total + p[idx, k], total)
        p[idx] = p[idx] / total[:, None]
    return z if xp is np else xp.asarray(z)


choice_from_uniform = Op(
    "choice_from_uniform", _from_uniform_infer, _choice_kernel, _no_grad,
    doc="n indices per row of pvals drawn without replacement from uniforms (Theano's C).")
