"""Pooling over the last ``nd`` axes with window, stride and padding given as int vectors (which
may be symbolic): Theano's ``pool_2d`` with tensor ``ws``/``stride``/``pad``, and ``pool_3d``.

The same semantics as symconv.ops.pool (Theano's Pool): output sizes, clipped partial windows
with ignore_border=False, the four modes, and max gradients to every input equal to its
window's max. Sizes are checked when the values are known (at build time for constants, else
at run time). As in ops/pool.py the family is closed under differentiation: the max gradient
and its adjoint, and the average gradient whose adjoint is the pooling itself.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable
from symconv.ops.pool import MODES, PoolError, pool_output_size, pool_windows


def _sizes(value: Any, nd: int, name: str, minimum: int) -> tuple[int, ...]:
    if hasattr(value, "__cuda_array_interface__"):   # sizes given on the device: a few ints
        value = value.get()
    sizes = tuple(int(v) for v in np.asarray(value).reshape(-1))
    if len(sizes) != nd:
        raise PoolError(f"pool_{nd}d: {name} must have {nd} entries, got {sizes}")
    if any(v < minimum for v in sizes):
        raise PoolError(f"pool_{nd}d: {name} must be >= {minimum}, got {sizes}")
    return sizes


class Windows:
    """The windows of one call over the last ``nd`` axes of an array of ``shape``."""

    def __init__(self, shape: tuple, ws: Any, stride: Any, pad: Any, nd: int,
                 ignore_border: bool, mode: str) -> None:
        if len(shape) < nd:
            raise PoolError(f"pool_{nd}d: needs an input with at least {nd} dimensions, got "
                            f"shape {tuple(shape)}")
        self.ws = _sizes(ws, nd, "ws", 1)
        self.stride = _sizes(stride, nd, "stride", 1)
        self.pad = _sizes(pad, nd, "pad", 0)
        check_pad(self.ws, self.pad, nd, ignore_border)
        self.mode, self.nd = mode, nd
        self.in_sz = tuple(int(n) for n in shape[-nd:])
        self.out_sz = tuple(pool_output_size(n, w, s, p, ignore_border) for n, w, s, p in
                            zip(self.in_sz, self.ws, self.stride, self.pad))
        self.out_shape = tuple(shape[:-nd]) + self.out_sz
        # room for the padding and for windows hanging past the end (ignore_border=False)
        self.ext = tuple(max(n + 2 * p, (o - 1) * s + w) for n, p, o, s, w in
                         zip(self.in_sz, self.pad, self.out_sz, self.stride, self.ws))
        self.interior = (Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(self.pad,
                                                                             self.in_sz))
        self.taps = [(Ellipsis,) + tuple(slice(a, a + s * (o - 1) + 1, s) for a, s, o in
                                         zip(offset, self.stride, self.out_sz))
                     for offset in itertools.product(*[range(w) for w in self.ws])]

    def padded(self, xp: Any, x: Any, fill: Any = None) -> Any:
        if fill is None:
            fill = 0 if self.mode != "max" else (
                -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min)
        out = xp.full(tuple(x.shape[:-self.nd]) + self.ext, fill, x.dtype)
        out[self.interior] = x
        return out

    def divisor(self) -> np.ndarray | None:
        """Window sizes the averages divide by (clipped to the padded or the real input)."""
        if self.mode in ("max", "sum"):
            return None
        total = np.ones((), dtype="float64")
        for n, w, s, p, o in zip(self.in_sz, self.ws, self.stride, self.pad, self.out_sz):
            start = np.arange(o) * s
            if self.mode == "average_inc_pad":
                size = np.minimum(start + w, n + 2 * p) - start
            else:
                size = np.minimum(start + w, n + p) - np.maximum(start, p)
            total = np.multiply.outer(total, size)
        return total


def check_pad(ws: tuple, pad: tuple, nd: int, ignore_border: bool) -> None:
    if any(pad) and not ignore_border:
        raise PoolError(f"pool_{nd}d: padding {pad} works only with ignore_border=True")
    if any(p >= w for p, w in zip(pad, ws)):
        raise PoolError(f"pool_{nd}d: padding {pad} must be smaller than the window ws={ws}")


# ---- kernels (x, then the pooled output or its gradient, then ws, stride, pad) ---------------

def _pool_kernel(xp: Any, x: Any, ws: Any, stride: Any, pad: Any, **p: Any) -> Any:
    return pool_windows(xp, Windows(x.shape, ws, stride, pad, **p), x)


def _checked(win: Windows, *arrays: Any) -> None:
    for a in arrays:
        if tuple(a.shape) != win.out_shape:
            raise PoolError(f"pool_{win.nd}d gradient: got shape {tuple(a.shape)}, expected "
                            f"the pooled shape {win.out_shape}")


def _max_grad_kernel(xp: Any, x: Any, y: Any, gy: Any, ws: Any, stride: Any, pad: Any,
                     **p: Any) -> Any:
    win = Windows(x.shape, ws, stride, pad, **p)
    _checked(win, y, gy)
    xpad = win.padded(xp, x)
    gxp = xp.zeros(xpad.shape, gy.dtype)
    for tap in win.taps:
        gxp[tap] += (xpad[tap] == y) * gy
    return xp.ascontiguousarray(gxp[win.interior])


def _max_grad_grad_kernel(xp: Any, x: Any, y: Any, ggx: Any, ws: Any, stride: Any, pad: Any,
                          **p: Any) -> Any:
    win = Windows(x.shape, ws, stride, pad, **p)
    _checked(win, y)
    xpad, ggxp = win.padded(xp, x), win.padded(xp, ggx, 0)
    out = xp.zeros(y.shape, ggx.dtype)
    for tap in win.taps:
        out += (xpad[tap] == y) * ggxp[tap]
    return out


def _average_grad_kernel(xp: Any, x: Any, gy: Any, ws: Any, stride: Any, pad: Any,
                         **p: Any) -> Any:
    win = Windows(x.shape, ws, stride, pad, **p)
    _checked(win, gy)
    divisor = win.divisor()
    if divisor is not None:
        gy = (gy / xp.asarray(divisor)).astype(gy.dtype, copy=False)
    gxp = xp.zeros(tuple(x.shape[:-win.nd]) + win.ext, gy.dtype)
    for tap in win.taps:
        gxp[tap] += gy
    return xp.ascontiguousarray(gxp[win.interior])


# ---- type rules: static sizes where ws/stride/pad are constants ------------------------------

def _const(v: Variable) -> np.ndarray | None:
    return v.data if isinstance(v, Constant) else None


def _check_sizes(nd: int, ignore_border: bool, *sizes: Variable) -> list[tuple | None]:
    values = []
    for v, name, minimum in zip(sizes, ("ws", "stride", "pad"), (1, 1, 0)):
        if v.ndim != 1 or v.dtype[0] not in "iu" or v.type.shape[0] not in (None, nd):
            raise TypeError(f"pool_{nd}d: {name} must be an int vector of length {nd}, got {v} "
                            f"of type {v.type}")
        c = _const(v)
        values.append(None if c is None else _sizes(c, nd, name, minimum))
    if values[0] is not None and values[2] is not None:
        check_pad(values[0], values[2], nd, ignore_border)
    return values


def _pooled(x: Variable, ws: Variable, stride: Variable, pad: Variable, nd: int,
            ignore_border: bool) -> tuple:
    w, s, p = _check_sizes(nd, ignore_border, ws, stride, pad)
    if x.ndim < nd:
        raise PoolError(f"pool_{nd}d: needs an input with at least {nd} dimensions, got {x.type}")
    known = w is not None and s is not None and p is not None
    out = tuple(None if not known or n is None else pool_output_size(n, w[a], s[a], p[a],
                                                                     ignore_border)
                for a, n in enumerate(x.type.shape[-nd:]))
    return x.type.shape[:-nd] + out


def _pool_infer(x: Variable, ws: Variable, stride: Variable, pad: Variable, nd: int,
                ignore_border: bool, mode: str) -> TensorType:
    if mode not in MODES:
        raise PoolError(f"pool_{nd}d: mode must be one of {', '.join(map(repr, MODES))}, got "
                        f"{mode!r}")
    if mode != "max" and x.dtype[0] != "f":
        raise TypeError(f"pool_{nd}d: mode {mode!r} needs a float input, got {x.type}")
    return TensorType(x.dtype, _pooled(x, ws, stride, pad, nd, ignore_border))


def _max_grad_infer(x: Variable, y: Variable, gy: Variable, ws: Variable, stride: Variable,
                    pad: Variable, **p: Any) -> TensorType:
    _pooled(x, ws, stride, pad, p["nd"], p["ignore_border"])
    return TensorType(gy.dtype, x.type.shape)


def _max_grad_grad_infer(x: Variable, y: Variable, ggx: Variable, ws: Variable,
                         stride: Variable, pad: Variable, **p: Any) -> TensorType:
    return TensorType(ggx.dtype, _pooled(x, ws, stride, pad, p["nd"], p["ignore_border"]))


def _average_grad_infer(x: Variable, gy: Variable, ws: Variable, stride: Variable,
                        pad: Variable, **p: Any) -> TensorType:
    _pooled(x, ws, stride, pad, p["nd"], p["ignore_border"])
    return TensorType(gy.dtype, x.type.shape)


# ---- gradients ----------------------------------------------------------------------------

def _pool_grad(g: Variable, out: Variable, x: Variable, *sizes: Variable, **p: Any) -> list:
    if p["mode"] == "max":
        return [max_pool_grad(x, out, g, *sizes, **p), None, None, None]
    return [average_pool_grad(x, g, *sizes, **p), None, None, None]


def _max_grad_grad(g: Variable, out: Variable, x: Variable, y: Variable, gy: Variable,
                   *sizes: Variable, **p: Any) -> list:
    # gx = M^T gy with the argmax mask M fixed almost everywhere: d/dgy <g, M^T gy> = M g
    return [None, None, max_pool_grad_grad(x, y, g, *sizes, **p), None, None, None]


def _max_grad_grad_grad(g: Variable, out: Variable, x: Variable, y: Variable, ggx: Variable,
                        *sizes: Variable, **p: Any) -> list:
    return [None, None, max_pool_grad(x, y, g, *sizes, **p), None, None, None]


def _average_grad_grad(g: Variable, out: Variable, x: Variable, gy: Variable,
                       *sizes: Variable, **p: Any) -> list:
    # gx = A^T gy with A the (sum or average) pooling: d/dgy <g, A^T gy> = A g
    return [None, pool(g, *sizes, **p), None, None, None]


def _prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    from symconv.ops.elemwise import cast
    n_sizes = 3
    head = [as_tensor_variable(x) for x in inputs[:-n_sizes]]
    sizes = [as_tensor_variable(s) for s in inputs[-n_sizes:]]
    sizes = [cast(s, "int64") if s.dtype != "int64" and s.dtype[0] in "iu" else s
             for s in sizes]
    return head + sizes, params


pool = Op("pool_nd", _pool_infer, _pool_kernel, _pool_grad, prepare=_prepare,
          infer_vars=True, doc="Pooling over the last nd axes; ws, stride, pad as int vectors.")
max_pool_grad = Op("max_pool_nd_grad", _max_grad_infer, _max_grad_kernel, _max_grad_grad,
                   prepare=_prepare, infer_vars=True,
                   doc="Gradient of pool_nd in max mode, given (x, maxout, gy, ws, stride, pad).")
max_pool_grad_grad = Op("max_pool_nd_grad_grad", _max_grad_grad_infer, _max_grad_grad_kernel,
                        _max_grad_grad_grad, prepare=_prepare, infer_vars=True,
                        doc="Adjoint of max_pool_nd_grad: window sums of ggx at the maxima.")
average_pool_grad = Op("average_pool_nd_grad", _average_grad_infer, _average_grad_kernel,
                       _average_grad_grad, prepare=_prepare, infer_vars=True,
                       doc="Gradient of pool_nd in the sum and average modes.")
