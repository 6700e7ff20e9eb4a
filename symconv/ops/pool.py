"""2D pooling over the last two axes (Theano's Pool semantics) and its gradients, closed under grad.

``pool_2d`` has two gradient ops: ``max_pool_2d_grad(x, y, gy)`` (every input equal to its
window's max gets the window's gradient, Theano's rule) and ``average_pool_2d_grad(x, gy)``
(sum and both averages). Both are linear in ``gy``; their adjoints are ``max_pool_2d_grad_grad``
and ``pool_2d`` itself, so gradients of gradients work. Generic kernels loop over the window taps
only, against ``xp``; the NumPy backend binds faster kernels (symconv.backends.numpy_pool).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.graph import Op, TensorType, Variable, as_tensor_variable

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")
Pair = tuple[int, int]


class PoolError(ValueError, NotImplementedError):
    """Pooling parameters or an input that cannot be pooled. A ValueError, and also the
    NotImplementedError Theano raises for padding without ignore_border and 1-d inputs."""


def _pair(value: Any, name: str, minimum: int) -> Pair:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(int(v) for v in value)
    else:
        raise PoolError(f"pool_2d: {name} must be a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise PoolError(f"pool_2d: {name} must be >= {minimum}, got {value!r}")
    return pair


def canonical_params(ws: Any, stride: Any = None, pad: Any = (0, 0),
                     ignore_border: bool = False, mode: str = "max") -> dict:
    """Pooling parameters validated into one hashable form (errors at build time)."""
    ws = _pair(ws, "ws", 1)
    stride = ws if stride is None else _pair(stride, "stride", 1)
    pad = _pair(pad, "pad", 0)
    if mode not in MODES:
        raise PoolError(f"pool_2d: mode must be one of {', '.join(map(repr, MODES))}, "
                        f"got {mode!r}")
    if pad != (0, 0) and not ignore_border:
        raise PoolError(f"pool_2d: padding {pad} works only with ignore_border=True")
    if any(p >= w for p, w in zip(pad, ws)):
        raise PoolError(f"pool_2d: padding {pad} must be smaller than the window ws={ws}")
    return {"ws": ws, "stride": stride, "pad": pad, "ignore_border": bool(ignore_border),
            "mode": mode}


def pool_output_size(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    """Theano's output length of one pooled axis."""
    if ignore_border:
        return (size + 2 * pad - ws) // stride + 1
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


def average_divisor(mode: str, in_hw: Pair, ws: Pair, stride: Pair, pad: Pair,
                    out_hw: Pair) -> np.ndarray | None:
    """(OH, OW) sizes the averages divide by: each window clipped to the padded image
    (average_inc_pad) or to the real one (average_exc_pad); None for max and sum."""
    if mode in ("max", "sum"):
        return None
    sizes = []
    for n, w, s, p, o in zip(in_hw, ws, stride, pad, out_hw):
        start = np.arange(o) * s
        if mode == "average_inc_pad":
            sizes.append(np.minimum(start + w, n + 2 * p) - start)
        else:
            sizes.append(np.minimum(start + w, n + p) - np.maximum(start, p))
    return np.outer(*sizes)


class PoolWindow:
    """The windows of one pooling call over the last two axes of an input of ``shape``:
    validated parameters, output size, padding, the strided slice of every tap, the divisor."""

    def __init__(self, shape: tuple, ws: Pair, stride: Pair | None = None, pad: Pair = (0, 0),
                 ignore_border: bool = True, mode: str = "max") -> None:
        if len(shape) < 2:
            raise PoolError(f"pool_2d: needs an input with at least 2 dimensions, got shape "
                            f"{tuple(shape)}")
        p = canonical_params(ws, stride, pad, ignore_border, mode)
        self.ws, self.stride, self.pad, self.mode = p["ws"], p["stride"], p["pad"], mode
        self.in_hw = tuple(int(n) for n in shape[-2:])
        self.out_hw = tuple(pool_output_size(n, w, s, q, ignore_border) for n, w, s, q in
                            zip(self.in_hw, self.ws, self.stride, self.pad))
        self.out_shape = tuple(shape[:-2]) + self.out_hw
        # The padded buffer must also hold windows hanging past the end (ignore_border=False).
        self.ext_hw = tuple(max(n + 2 * q, (o - 1) * s + w) for n, q, o, s, w in
                            zip(self.in_hw, self.pad, self.out_hw, self.stride, self.ws))
        # Non-overlapping windows tiling (a crop of) the input need no padded copy.
        self.tiled = (self.stride == self.ws and not any(self.pad) and
                      all(o * w <= n for o, w, n in zip(self.out_hw, self.ws, self.in_hw)))
        (oh, ow), (sh, sw) = self.out_hw, self.stride
        self.taps = [(Ellipsis, slice(a, a + sh * (oh - 1) + 1, sh),
                      slice(b, b + sw * (ow - 1) + 1, sw))
                     for a in range(self.ws[0]) for b in range(self.ws[1])]
        (ph, pw), (h, w) = self.pad, self.in_hw
        self.interior = (Ellipsis, slice(ph, ph + h), slice(pw, pw + w))

    @classmethod
    def of(cls, x: Any, params: dict) -> "PoolWindow":
        """The windows of a pool node's parameters over the array ``x``."""
        return cls(tuple(x.shape), **params)

    def fill(self, x: Any) -> Any:
        """What padding holds: the lowest value for max (it never wins), 0 for the sums."""
        if self.mode != "max":
            return 0
        return -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min

    def padded(self, xp: Any, x: Any, fill: Any = None) -> Any:
        """x in a buffer of ext_hw (x itself when the windows tile it)."""
        if self.tiled:
            return x
        out = xp.full(x.shape[:-2] + self.ext_hw, self.fill(x) if fill is None else fill,
                      x.dtype)
        out[self.interior] = x
        return out

    def check_output_grad(self, gy_shape: tuple, y_shape: tuple | None = None) -> None:
        """The output gradient (and the max-pooled output, when given) have the pooled shape."""
        if tuple(gy_shape) != self.out_shape or (y_shape is not None
                                                 and tuple(y_shape) != self.out_shape):
            got = f"gy {tuple(gy_shape)}" + ("" if y_shape is None else f" / y {tuple(y_shape)}")
            raise PoolError(f"pool_2d gradient: {got}, expected the pooled shape "
                            f"{self.out_shape}")

    def divisor(self) -> np.ndarray | None:
        """(OH, OW) window sizes that the average modes divide by; None for max and sum."""
        return average_divisor(self.mode, self.in_hw, self.ws, self.stride, self.pad,
                               self.out_hw)


def _prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    return [as_tensor_variable(x) for x in inputs], canonical_params(**params)


def pooled_shape(shape: tuple, ws: Pair, stride: Pair, pad: Pair, ignore_border: bool,
                 **_: Any) -> tuple:
    """Static output shape (None where the input size is unknown)."""
    out = tuple(None if n is None else pool_output_size(n, w, s, p, ignore_border)
                for n, w, s, p in zip(shape[-2:], ws, stride, pad))
    return tuple(shape[:-2]) + out


def _check_ndim(name: str, t: TensorType) -> None:
    if t.ndim < 2:
        raise PoolError(f"{name}: needs an input with at least 2 dimensions, got {t}")


# ---- generic kernels: one strided slice per window tap ------------------------------------------


def _pool_kernel(xp: Any, x: Any, **params: Any) -> Any:
    return pool_windows(xp, PoolWindow.of(x, params), x)


def pool_windows(xp: Any, win: Any, x: Any) -> Any:
    """x pooled over the windows of ``win`` (a PoolWindow or anything with its taps, padding
    and divisor): the generic kernel of every pooling op."""
    xpad = win.padded(xp, x)
    reduce = xp.maximum if win.mode == "max" else xp.add
    out = xpad[win.taps[0]].copy()
    for tap in win.taps[1:]:
        reduce(out, xpad[tap], out=out)
    divisor = win.divisor()
    if divisor is not None:
        out = (out / xp.asarray(divisor)).astype(x.dtype, copy=False)
    return out


def _max_grad_kernel(xp: Any, x: Any, y: Any, gy: Any, **params: Any) -> Any:
    win = PoolWindow.of(x, params)
    xpad = win.padded(xp, x)
    gxp = xp.zeros(xpad.shape, gy.dtype)
    for tap in win.taps:
        gxp[tap] += (xpad[tap] == y) * gy
    return xp.ascontiguousarray(gxp[win.interior])


def _max_grad_grad_kernel(xp: Any, x: Any, y: Any, ggx: Any, **params: Any) -> Any:
    win = PoolWindow.of(x, params)
    xpad = win.padded(xp, x)
    ggxp = win.padded(xp, ggx, 0)
    out = xp.zeros(y.shape, ggx.dtype)
    for tap in win.taps:
        out += (xpad[tap] == y) * ggxp[tap]
    return out


def _average_grad_kernel(xp: Any, x: Any, gy: Any, **params: Any) -> Any:
    win = PoolWindow.of(x, params)
    divisor = win.divisor()
    if divisor is not None:
        gy = (gy / xp.asarray(divisor)).astype(gy.dtype, copy=False)
    gxp = xp.zeros(x.shape[:-2] + win.ext_hw, gy.dtype)
    for tap in win.taps:
        gxp[tap] += gy
    return xp.ascontiguousarray(gxp[win.interior])


# ---- type rules and gradients -------------------------------------------------------------------


def _pool_infer(x: TensorType, **params: Any) -> TensorType:
    _check_ndim("pool_2d", x)
    if params["mode"] != "max" and x.dtype[0] not in "f":
        raise TypeError(f"pool_2d: mode {params['mode']!r} needs a float input, got {x}")
    return TensorType(x.dtype, pooled_shape(x.shape, **params))


def _check_pooled(name: str, x: TensorType, y: TensorType, what: str, params: dict) -> None:
    want = pooled_shape(x.shape, **params)
    if y.ndim != x.ndim or any(a is not None and b is not None and a != b
                               for a, b in zip(want, y.shape)):
        raise ValueError(f"{name}: {what} {y} does not have the pooled shape of the input "
                         f"{x} (expected {want})")


def _max_grad_infer(x: TensorType, y: TensorType, gy: TensorType, **params: Any) -> TensorType:
    _check_ndim("max_pool_2d_grad", x)
    _check_pooled("max_pool_2d_grad", x, y, "maxout", params)
    _check_pooled("max_pool_2d_grad", x, gy, "output gradient", params)
    return TensorType(gy.dtype, x.shape)


def _max_grad_grad_infer(x: TensorType, y: TensorType, ggx: TensorType,
                         **params: Any) -> TensorType:
    _check_ndim("max_pool_2d_grad_grad", x)
    _check_pooled("max_pool_2d_grad_grad", x, y, "maxout", params)
    if ggx.ndim != x.ndim:
        raise ValueError(f"max_pool_2d_grad_grad: {ggx} must have the input's shape {x}")
    return TensorType(ggx.dtype, y.shape)


def _average_grad_infer(x: TensorType, gy: TensorType, **params: Any) -> TensorType:
    _check_ndim("average_pool_2d_grad", x)
    _check_pooled("average_pool_2d_grad", x, gy, "output gradient", params)
    return TensorType(gy.dtype, x.shape)


def _pool_grad(g: Variable, out: Variable, x: Variable, **params: Any) -> list:
    if params["mode"] == "max":
        return [max_pool_2d_grad(x, out, g, **params)]
    return [average_pool_2d_grad(x, g, **params)]


def _max_grad_grad(g: Variable, out: Variable, x: Variable, y: Variable, gy: Variable,
                   **params: Any) -> list:
    # gx = M^T gy with the argmax mask M fixed almost everywhere: d/dgy <g, M^T gy> = M g
    return [None, None, max_pool_2d_grad_grad(x, y, g, **params)]


def _max_grad_grad_grad(g: Variable, out: Variable, x: Variable, y: Variable, ggx: Variable,
                        **params: Any) -> list:
    return [None, None, max_pool_2d_grad(x, y, g, **params)]


def _average_grad_grad(g: Variable, out: Variable, x: Variable, gy: Variable,
                       **params: Any) -> list:
    # gx = A^T gy with A the (sum or average) pooling: d/dgy <g, A^T gy> = A g
    return [None, pool_2d(g, **params)]


pool_2d = Op("pool_2d", _pool_infer, _pool_kernel, _pool_grad, prepare=_prepare,
             doc="Theano's 2D pooling over the last two axes.")
max_pool_2d_grad = Op("max_pool_2d_grad", _max_grad_infer, _max_grad_kernel, _max_grad_grad,
                      prepare=_prepare, doc="Gradient of max pooling, given (x, maxout, gy).")
max_pool_2d_grad_grad = Op("max_pool_2d_grad_grad", _max_grad_grad_infer, _max_grad_grad_kernel,
                           _max_grad_grad_grad, prepare=_prepare,
                           doc="Adjoint of max_pool_2d_grad in its gradient: the window sums of "
                               "ggx at the max positions.")
average_pool_2d_grad = Op("average_pool_2d_grad", _average_grad_infer, _average_grad_kernel,
                          _average_grad_grad, prepare=_prepare,
                          doc="Gradient of sum and average pooling, given (x, gy).")


def pool_kernel_args(node: Any) -> dict:
    """The pool node's parameters as keyword arguments of the backends' pool kernels."""
    p = node.kw
    return {"ws": p["ws"], "stride": p["stride"], "pad": p["pad"],
            "ignore_border": p["ignore_border"], "mode": p["mode"]}
