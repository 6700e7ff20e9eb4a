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

from symconv.backends.numpy_pool import average_divisor, pool_output_size
from symconv.graph import Op, TensorType, Variable, as_tensor_variable

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")
Pair = tuple[int, int]


def _pair(value: Any, name: str, minimum: int) -> Pair:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(int(v) for v in value)
    else:
        raise ValueError(f"pool_2d: {name} must be a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise ValueError(f"pool_2d: {name} must be >= {minimum}, got {value!r}")
    return pair


def canonical_params(ws: Any, stride: Any = None, pad: Any = (0, 0),
                     ignore_border: bool = False, mode: str = "max") -> dict:
    """Pooling parameters validated into one hashable form (errors at build time)."""
    ws = _pair(ws, "ws", 1)
    stride = ws if stride is None else _pair(stride, "stride", 1)
    pad = _pair(pad, "pad", 0)
    if mode not in MODES:
        raise ValueError(f"pool_2d: mode must be one of {', '.join(map(repr, MODES))}, "
                         f"got {mode!r}")
    if pad != (0, 0) and not ignore_border:
        raise NotImplementedError(f"pool_2d: padding {pad} works only with ignore_border=True")
    if any(p >= w for p, w in zip(pad, ws)):
        raise NotImplementedError(f"pool_2d: padding {pad} must be smaller than the window "
                                  f"ws={ws}")
    return {"ws": ws, "stride": stride, "pad": pad, "ignore_border": bool(ignore_border),
            "mode": mode}


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
        raise NotImplementedError(f"{name}: needs an input with at least 2 dimensions, got {t}")


# ---- generic kernels: one strided slice per window tap ------------------------------------------


class _Windows:
    """The windows of one pooling call over an input of ``in_hw``."""

    def __init__(self, in_hw: tuple, ws: Pair, stride: Pair, pad: Pair, ignore_border: bool,
                 mode: str) -> None:
        self.in_hw, self.ws, self.stride, self.pad, self.mode = in_hw, ws, stride, pad, mode
        self.out_hw = tuple(pool_output_size(n, w, s, p, ignore_border)
                            for n, w, s, p in zip(in_hw, ws, stride, pad))
        # room for windows hanging past the end when ignore_border=False
        self.ext_hw = tuple(max(n + 2 * p, (o - 1) * s + w) for n, p, o, s, w
                            in zip(in_hw, pad, self.out_hw, stride, ws))
        (oh, ow), (sh, sw) = self.out_hw, stride
        self.taps = [(Ellipsis, slice(a, a + sh * (oh - 1) + 1, sh),
                      slice(b, b + sw * (ow - 1) + 1, sw))
                     for a in range(ws[0]) for b in range(ws[1])]
        (ph, pw), (h, w) = pad, in_hw
        self.interior = (Ellipsis, slice(ph, ph + h), slice(pw, pw + w))

    def padded(self, xp: Any, x: Any, fill: Any) -> Any:
        out = xp.full(x.shape[:-2] + self.ext_hw, fill, x.dtype)
        out[self.interior] = x
        return out

    def divisor(self) -> np.ndarray | None:
        """(OH, OW) sizes the averages divide by (see numpy_pool.average_divisor)."""
        return average_divisor(self.mode, self.in_hw, self.ws, self.stride, self.pad,
                               self.out_hw)


def _windows(x: Any, params: dict) -> _Windows:
    return _Windows(tuple(x.shape[-2:]), **params)


def _lowest(x: Any) -> Any:
    return -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min


def _pool_kernel(xp: Any, x: Any, **params: Any) -> Any:
    win = _windows(x, params)
    mode = params["mode"]
    xpad = win.padded(xp, x, _lowest(x) if mode == "max" else 0)
    reduce = xp.maximum if mode == "max" else xp.add
    out = xpad[win.taps[0]].copy()
    for tap in win.taps[1:]:
        reduce(out, xpad[tap], out=out)
    divisor = win.divisor()
    if divisor is not None:
        out = (out / xp.asarray(divisor)).astype(x.dtype, copy=False)
    return out


def _max_grad_kernel(xp: Any, x: Any, y: Any, gy: Any, **params: Any) -> Any:
    win = _windows(x, params)
    xpad = win.padded(xp, x, _lowest(x))
    gxp = xp.zeros(xpad.shape, gy.dtype)
    for tap in win.taps:
        gxp[tap] += (xpad[tap] == y) * gy
    return xp.ascontiguousarray(gxp[win.interior])


def _max_grad_grad_kernel(xp: Any, x: Any, y: Any, ggx: Any, **params: Any) -> Any:
    win = _windows(x, params)
    xpad = win.padded(xp, x, _lowest(x))
    ggxp = win.padded(xp, ggx, 0)
    out = xp.zeros(y.shape, ggx.dtype)
    for tap in win.taps:
        out += (xpad[tap] == y) * ggxp[tap]
    return out


def _average_grad_kernel(xp: Any, x: Any, gy: Any, **params: Any) -> Any:
    win = _windows(x, params)
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
