"""``pool_2d`` over the last two axes and ``pool_3d`` over the last three, with Theano's
signatures, defaults and deprecations (sizes may be symbolic)."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from symconv.graph import Variable, as_tensor_variable
from symconv.ops import pool as _pool

_MODE_ALIASES = {"average": "average_inc_pad", "max_deterministic": "max"}


def _renamed(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """Theano's handling of a deprecated parameter name: warn, and refuse both at once."""
    if old is None:
        return new
    if new is not None:
        raise ValueError(f"You can't provide a tuple value to both '{new_name}' and "
                         f"'{old_name}'.")
    warnings.warn(f"DEPRECATION: the '{old_name}' parameter is not going to exist anymore as it "
                  f"is going to be replaced by the parameter '{new_name}'.", DeprecationWarning,
                  stacklevel=3)
    return old


def pool_2d(input: Any, ws: Sequence[int] | None = None, ignore_border: bool | None = None,
            stride: Sequence[int] | None = None, pad: Sequence[int] = (0, 0), mode: str = "max",
            ds: Sequence[int] | None = None, st: Sequence[int] | None = None,
            padding: Sequence[int] | None = None) -> Variable:
    """Downscale the last two axes of ``input`` by pooling windows of shape ``ws``.

    Parameters
    ----------
    input : tensor with ndim >= 2
    ws : (int, int), the window (``ds`` is its deprecated name).
    ignore_border : bool
        True drops partial windows at the end; False keeps them (clipped). None warns and means
        False, as in Theano.
    stride : (int, int), default ``ws`` (``st`` is its deprecated name).
    pad : (int, int), zero padding on both sides, smaller than ``ws``; needs ignore_border=True
        (``padding`` is its deprecated name).
    mode : 'max', 'sum', 'average_inc_pad' (padding counts in the divisor; 'average' is an
        alias) or 'average_exc_pad'.

    Returns
    -------
    tensor of the input's dtype; the last two sizes are
    ``(in + 2 * pad - ws) // stride + 1`` (ignore_border=True) or ``(in - 1) // stride + 1``
    for ``stride >= ws``, else ``max(0, (in - 1 - ws + stride) // stride) + 1``.
    """
    input, ws, stride, pad, ignore_border = _arguments(2, input, ws, ds, stride, st, pad,
                                                       padding, ignore_border)
    mode = _MODE_ALIASES.get(mode, mode)
    if _symbolic(ws, stride, pad):   # tensor ws/stride/pad, as Theano accepts
        return _pool_nd(input, ws, stride, pad, 2, ignore_border, mode)
    return _pool.pool_2d(input, ws=ws, stride=stride, pad=pad, ignore_border=ignore_border,
                         mode=mode)


def _arguments(nd: int, input: Any, ws: Any, ds: Any, stride: Any, st: Any, pad: Any,
               padding: Any, ignore_border: bool | None) -> tuple:
    """pool_{nd}d's arguments with Theano's old names resolved, checked, and ignore_border's
    default (False, with Theano's warning): (input, ws, stride, pad, ignore_border)."""
    name = f"pool_{nd}d"
    ws = _renamed(ws, ds, "ws", "ds")
    if ws is None:
        raise ValueError(f"{name}: you must provide a tuple value for the window size (ws)")
    stride = _renamed(stride, st, "stride", "st")
    if padding is not None:
        if tuple(pad) != (0,) * nd:
            raise ValueError("You can't provide a tuple value to both 'pad' and 'padding'.")
        pad = _renamed(None, padding, "pad", "padding")
    input = as_tensor_variable(input)
    if input.ndim < nd:
        raise NotImplementedError(f"{name} requires a dimension >= {nd}, got {input} of type "
                                  f"{input.type}")
    if ignore_border is None:
        warnings.warn(f"{name}() will have the parameter ignore_border default value changed "
                      "to True (currently False). To have consistent behavior with all Theano "
                      "versions, explicitly add the parameter ignore_border=True.", UserWarning,
                      stacklevel=3)
        ignore_border = False
    return input, ws, stride, pad, ignore_border


def _symbolic(*sizes: Any) -> bool:
    """Whether a window, stride or padding is given as (or contains) a symbolic variable."""
    return any(isinstance(s, Variable) or isinstance(s, (list, tuple)) and any(
        isinstance(v, Variable) for v in s) for s in sizes)


def _pool_nd(input: Variable, ws: Any, stride: Any, pad: Any, nd: int, ignore_border: bool,
             mode: str) -> Variable:
    from symconv.ops import pool_nd
    ws = as_tensor_variable(list(ws) if isinstance(ws, tuple) else ws)
    stride = ws if stride is None else as_tensor_variable(
        list(stride) if isinstance(stride, tuple) else stride)
    pad = as_tensor_variable(list(pad) if isinstance(pad, tuple) else pad)
    return pool_nd.pool(input, ws, stride, pad, nd=nd, ignore_border=bool(ignore_border),
                        mode=mode)


def pool_3d(input: Any, ws: Sequence[int] | None = None, ignore_border: bool | None = None,
            stride: Sequence[int] | None = None, pad: Sequence[int] = (0, 0, 0),
            mode: str = "max", ds: Sequence[int] | None = None, st: Sequence[int] | None = None,
            padding: Sequence[int] | None = None) -> Variable:
    """Downscale the last three axes of ``input`` by pooling windows of shape ``ws``; the
    parameters (ints or tensors) and sizes are those of ``pool_2d`` over three axes."""
    input, ws, stride, pad, ignore_border = _arguments(3, input, ws, ds, stride, st, pad,
                                                       padding, ignore_border)
    return _pool_nd(input, ws, stride, pad, 3, ignore_border, _MODE_ALIASES.get(mode, mode))


def max_pool_2d_same_size(input: Any, patch_size: Sequence[int]) -> Variable:
    """Keep the maximum of each non-overlapping ``patch_size`` window in place and zero the rest
    (the output has the input's shape)."""
    input = as_tensor_variable(input)
    params = dict(ws=tuple(patch_size), stride=None, pad=(0, 0), ignore_border=True, mode="max")
    maxout = _pool.pool_2d(input, **params)
    return _pool.max_pool_2d_grad(input, maxout, maxout, **params)
