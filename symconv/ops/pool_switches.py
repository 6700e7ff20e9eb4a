"""Max pooling that records where every window's maximum came from (the switches), and the
gradient that scatters into those positions instead of comparing the input with the output.

The rewrite in symconv.rewrites.pool_switches puts these ops in place of a ``pool_2d`` (max)
and its ``max_pool_2d_grad``. Theano's rule is kept exactly: every input element equal to its
window's maximum gets the window's gradient. A window with exactly one maximal element (almost
every window of real-valued data) stores that element's flat index into x; a window with
several (ties) or none (NaN) stores the dummy index ``x.size`` and lists each of its maximal
elements as an (input index, output index) pair in ``extra_x``/``extra_y``. The IR's nodes
have one result, so the forward's result is a bundle (``PoolSwitches``) that two small ops
read: ``max_pool_2d_switches_out`` (the pooled output) and ``max_pool_2d_grad_switches``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.graph import Op, TensorType, Variable, as_tensor_variable
from symconv.ops.pool import PoolError, PoolWindow, canonical_params, pooled_shape

# The bundle's declared type (never looked into: the two reader ops get the real types from
# the forward node's input).
SWITCHES_TYPE = TensorType("uint8", (0,))


def _host(a: Any) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a)


class PoolSwitches:
    """A ``max_pool_2d_switches`` value: the pooled ``y``; ``index``, y's shape, the flat index
    into x of each window's maximum (``x.size`` where the window has ties or no maximum);
    ``extra_x``/``extra_y``, flat (x, y) index pairs of every maximal element of those
    windows; the input's shape; and whether windows overlap (the gradient must then add up)."""

    __slots__ = ("y", "index", "extra_x", "extra_y", "x_shape", "overlap")
    dtype = np.dtype(SWITCHES_TYPE.dtype)   # the declared type's, for instrumented runs
    shape = SWITCHES_TYPE.shape
    ndim = 1

    def __init__(self, y: Any, index: Any, extra_x: Any, extra_y: Any, x_shape: tuple,
                 overlap: bool) -> None:
        self.y, self.index = y, index
        self.extra_x, self.extra_y = extra_x, extra_y
        self.x_shape, self.overlap = tuple(x_shape), bool(overlap)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The switches as one int64 vector (index, then the extra pairs sorted), so that two
        bundles compare equal exactly when they record the same maxima."""
        pairs = np.stack([_host(self.extra_x), _host(self.extra_y)]).astype(np.int64)
        pairs = pairs[:, np.lexsort(pairs[::-1])] if pairs.size else pairs
        out = np.concatenate([_host(self.index).ravel().astype(np.int64), pairs.ravel()])
        return out if dtype is None else out.astype(dtype)


def window_origins(xp: Any, win: PoolWindow, lead0: int, nl: int) -> Any:
    """(nl, OH, OW) intp: the flat index in x of every window's top-left tap, for the leading
    rows lead0 .. lead0 + nl (outside the row where padding puts the tap outside x)."""
    (h, w), (oh, ow), (sh, sw), (ph, pw) = win.in_hw, win.out_hw, win.stride, win.pad
    rows = (xp.arange(oh, dtype=np.intp) * sh - ph) * w
    plane = rows[:, None] + (xp.arange(ow, dtype=np.intp) * sw - pw)[None, :]
    lead = xp.arange(lead0, lead0 + nl, dtype=np.intp) * (h * w)
    return lead[:, None, None] + plane[None]


def record_switches(xp: Any, taps: list, y: Any, index: Any, win: PoolWindow, lead0: int,
                    dummy: int, origins: Any = None) -> tuple[Any, Any]:
    """Fill ``y`` (nl, OH, OW) with the window maxima and ``index`` (same shape, intp) with
    their flat positions in x; return the (x, y) index pairs of windows without a unique max.

    ``taps`` holds one (nl, OH, OW) array per window tap in row-major tap order: the input
    element at that tap of every window of leading rows ``lead0 .. lead0 + nl`` (padding
    included, which never wins alone: it holds the lowest value and each window has at least
    one real element). ``origins`` may pass in ``window_origins(xp, win, 0, nl)``.
    """
    nl, oh, ow = y.shape
    (h, w), (sh, sw), (ph, pw), (wh, ww) = win.in_hw, win.stride, win.pad, win.ws
    if len(taps) == 1:
        xp.copyto(y, taps[0])
    else:
        xp.maximum(taps[0], taps[1], out=y)
    for tap in taps[2:]:
        xp.maximum(y, tap, out=y)
    # How many taps hold the maximum, and the sum of their rows and columns in the window:
    # the winner's row and column where exactly one does (the others are redone below).
    small = np.uint8 if max(wh, ww, len(taps)) < 255 else np.int32
    count, row, col = (xp.zeros(y.shape, small) for _ in range(3))
    found = xp.empty(y.shape, bool)
    eq = found.view(np.uint8) if small is np.uint8 else found
    for k, tap in enumerate(taps):
        xp.equal(tap, y, out=found)
        xp.add(count, eq, out=count)
        for total, step in zip((row, col), divmod(k, ww)):
            if step == 1:
                xp.add(total, eq, out=total)
            elif step:
                xp.add(total, eq * small(step), out=total)
    # index = the window's origin in x (padding may put it outside) + row * w + col
    wide = np.int16 if (wh - 1) * w + ww < 2 ** 15 else np.int32 if wh * w < 2 ** 31 else np.intp
    offset = xp.empty(y.shape, wide)
    xp.multiply(row, wide(w), out=offset)
    xp.add(offset, col, out=offset)
    if origins is None:
        xp.add(window_origins(xp, win, lead0, nl), offset, out=index)
    else:
        xp.add(origins, offset, out=index)
        if lead0:
            xp.add(index, lead0 * h * w, out=index)
    empty = xp.zeros((0,), np.intp)
    if int(count.min()) == 1 == int(count.max()):
        return empty, empty
    special = xp.flatnonzero(count.reshape(-1) != 1)
    index.reshape(-1)[special] = dummy
    plane, q = special // (oh * ow), special % (oh * ow)
    r0, c0 = (q // ow) * sh - ph, (q % ow) * sw - pw
    top = y.reshape(-1)[special]
    xs, ys = [empty], [empty]
    for k, tap in enumerate(taps):
        a, b = divmod(k, ww)
        hit = tap[plane, q // ow, q % ow] == top
        r, c = r0[hit] + a, c0[hit] + b
        real = (r >= 0) & (r < h) & (c >= 0) & (c < w)   # tied padding gets nothing
        xs.append(((plane[hit] + lead0) * (h * w) + r * w + c)[real])
        ys.append((special[hit] + lead0 * oh * ow)[real])
    return xp.concatenate(xs), xp.concatenate(ys)


def overlapping(params: dict) -> bool:
    """Whether some input element lies in two windows (stride smaller than the window)."""
    return any(s < w for s, w in zip(params["stride"], params["ws"]))


def _switches_kernel(xp: Any, x: Any, **params: Any) -> PoolSwitches:
    win = PoolWindow.of(x, params)
    nl = int(np.prod(x.shape[:-2], dtype=np.int64))
    y = xp.empty((nl,) + win.out_hw, x.dtype)
    index = xp.empty(y.shape, np.intp)
    extra = (xp.zeros((0,), np.intp),) * 2
    if y.size:
        xpad = win.padded(xp, x)
        xpad = xpad.reshape((nl,) + xpad.shape[-2:])
        taps = [xpad[(slice(None),) + tap[1:]] for tap in win.taps]
        extra = record_switches(xp, taps, y, index, win, 0, x.size)
    return PoolSwitches(y.reshape(win.out_shape), index.reshape(win.out_shape), *extra,
                        x.shape, overlapping(params))


def check_switches_grad(s: PoolSwitches, gy: Any) -> None:
    """The output gradient has the pooled shape (raised before anything is computed)."""
    if tuple(gy.shape) != tuple(s.y.shape):
        raise PoolError(f"max_pool_2d_grad_switches: gy {tuple(gy.shape)}, expected the pooled "
                        f"shape {tuple(s.y.shape)}")


def _grad_switches_kernel(xp: Any, s: PoolSwitches, gy: Any) -> Any:
    check_switches_grad(s, gy)
    size = int(np.prod(s.x_shape, dtype=np.int64))
    g = gy.reshape(-1)
    if s.overlap:   # an element may win in several windows: add up
        where = xp.concatenate([s.index.reshape(-1), s.extra_x])
        weights = xp.concatenate([g, g[s.extra_y]]).astype(np.float64)
        gx = xp.bincount(where, weights=weights, minlength=size + 1)[:size].astype(gy.dtype)
        return gx.reshape(s.x_shape)
    gx = xp.zeros(size + 1, gy.dtype)   # the last slot takes the windows that have no index
    gx[s.index.reshape(-1)] = g
    if s.extra_x.size:
        gx[s.extra_x] += g[s.extra_y]
    return gx[:size].reshape(s.x_shape)


def _switches_infer(x: TensorType, **params: Any) -> TensorType:
    if params["mode"] != "max":
        raise PoolError(f"max_pool_2d_switches: needs mode 'max', got {params['mode']!r}")
    if x.ndim < 2 or x.dtype[0] != "f":
        raise TypeError(f"max_pool_2d_switches: needs a float input with at least 2 "
                        f"dimensions, got {x}")
    return SWITCHES_TYPE


def _forward_node(s: Variable, name: str) -> Any:
    if s.owner is None or s.owner.op is not max_pool_2d_switches:
        raise TypeError(f"{name}: {s} is not the result of max_pool_2d_switches")
    return s.owner


def _out_infer(s: Variable) -> TensorType:
    node = _forward_node(s, "max_pool_2d_switches_out")
    x = node.inputs[0].type
    return TensorType(x.dtype, pooled_shape(x.shape, **node.kw))


def _grad_infer(s: Variable, gy: Variable) -> TensorType:
    node = _forward_node(s, "max_pool_2d_grad_switches")
    x = node.inputs[0].type
    want = pooled_shape(x.shape, **node.kw)
    if gy.ndim != x.ndim or any(a is not None and b is not None and a != b
                                for a, b in zip(want, gy.type.shape)):
        raise ValueError(f"max_pool_2d_grad_switches: output gradient {gy.type} does not have "
                         f"the pooled shape {want}")
    return TensorType(gy.dtype, x.shape)


def _prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    return [as_tensor_variable(x) for x in inputs], canonical_params(**params)


max_pool_2d_switches = Op(
    "max_pool_2d_switches", _switches_infer, _switches_kernel, None, prepare=_prepare,
    differentiable=False,
    doc="Max pooling that also records each window's maximal elements (a PoolSwitches bundle); "
        "made by a rewrite after gradients are taken.")
max_pool_2d_switches.foldable = False   # its value is a bundle, not an array
max_pool_2d_switches_out = Op(
    "max_pool_2d_switches_out", _out_infer, lambda xp, s: s.y, None, infer_vars=True,
    view=True, differentiable=False, doc="The pooled output of a max_pool_2d_switches bundle.")
max_pool_2d_grad_switches = Op(
    "max_pool_2d_grad_switches", _grad_infer, _grad_switches_kernel, None, infer_vars=True,
    differentiable=False,
    doc="max_pool_2d_grad from the switches: gy scattered to every window's maximal elements.")
