"""Slow, obviously-correct references written from the definitions, for tests only.

Plain Python loops over every index; gradients scatter gy back through the same loops. Results are
accumulated in float64 and returned in the input dtype.
"""
from __future__ import annotations

import itertools

import numpy as np


def _conv2d_taps(x_shape, w_shape, pad, subsample, dilation, flip, groups):
    """Yield (n, o, i, j, ci, c, p, q, xi, xj, wp, wq) for every product in the convolution sum:
    output y[n, o, i, j] gets x_padded[n, ci, xi, xj] * w[o, c, wp, wq]."""
    n_img, _, h, w = x_shape
    o_all, cg, kh, kw = w_shape
    (ph, pw), (sh, sw), (dh, dw) = pad, subsample, dilation
    oh = (h + 2 * ph - (kh - 1) * dh - 1) // sh + 1
    ow = (w + 2 * pw - (kw - 1) * dw - 1) // sw + 1
    og = o_all // groups
    for n, o, i, j in itertools.product(range(n_img), range(o_all), range(oh), range(ow)):
        group = o // og
        for c, p, q in itertools.product(range(cg), range(kh), range(kw)):
            # True convolution pairs the first input tap with the last filter tap.
            wp, wq = (kh - 1 - p, kw - 1 - q) if flip else (p, q)
            yield n, o, i, j, group * cg + c, c, i * sh + p * dh, j * sw + q * dw, wp, wq


def _conv2d_out_shape(x_shape, w_shape, pad, subsample, dilation):
    n_img, _, h, w = x_shape
    o_all, _, kh, kw = w_shape
    oh = (h + 2 * pad[0] - (kh - 1) * dilation[0] - 1) // subsample[0] + 1
    ow = (w + 2 * pad[1] - (kw - 1) * dilation[1] - 1) // subsample[1] + 1
    return n_img, o_all, oh, ow


def _zero_pad(x, pad):
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))


def conv2d_ref(x, w, pad=(0, 0), subsample=(1, 1), dilation=(1, 1), flip=True, groups=1):
    """y[n, o, i, j] = sum over c, p, q of x_padded[n, c, i*s + p*d, j*s + q*d] * w_(flipped)."""
    xp = _zero_pad(x, pad)
    y = np.zeros(_conv2d_out_shape(x.shape, w.shape, pad, subsample, dilation))
    for n, o, i, j, ci, c, xi, xj, wp, wq in _conv2d_taps(x.shape, w.shape, pad, subsample,
                                                           dilation, flip, groups):
        y[n, o, i, j] += xp[n, ci, xi, xj] * w[o, c, wp, wq]
    return y.astype(x.dtype)


def conv2d_grad_inputs_ref(gy, w, input_hw, pad=(0, 0), subsample=(1, 1), dilation=(1, 1),
                           flip=True, groups=1):
    """d sum(gy * conv2d(x, w)) / dx: every product x*w in the sum sends gy*w back to x."""
    n_img = gy.shape[0]
    h, wd = input_hw
    x_shape = (n_img, w.shape[1] * groups, h, wd)
    gxp = np.zeros((n_img, x_shape[1], h + 2 * pad[0], wd + 2 * pad[1]))
    for n, o, i, j, ci, c, xi, xj, wp, wq in _conv2d_taps(x_shape, w.shape, pad, subsample,
                                                           dilation, flip, groups):
        gxp[n, ci, xi, xj] += gy[n, o, i, j] * w[o, c, wp, wq]
    return gxp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd].astype(gy.dtype)


def conv2d_grad_weights_ref(x, gy, filter_hw, pad=(0, 0), subsample=(1, 1), dilation=(1, 1),
                            flip=True, groups=1):
    """d sum(gy * conv2d(x, w)) / dw: every product x*w in the sum sends gy*x back to w."""
    w_shape = (gy.shape[1], x.shape[1] // groups) + tuple(filter_hw)
    xp = _zero_pad(x, pad)
    gw = np.zeros(w_shape)
    for n, o, i, j, ci, c, xi, xj, wp, wq in _conv2d_taps(x.shape, w_shape, pad, subsample,
                                                           dilation, flip, groups):
        gw[o, c, wp, wq] += gy[n, o, i, j] * xp[n, ci, xi, xj]
    return gw.astype(x.dtype)


def _pool_out_size(size, ws, stride, pad, ignore_border):
    if ignore_border:
        return (size + 2 * pad - ws) // stride + 1
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


def _pool_windows(shape, ws, stride, pad, ignore_border, mode):
    """Yield (out_index, rows, cols, divisor) per output element; rows and cols are the real
    input positions the window covers, divisor is what the average modes divide by."""
    *lead, h, w = shape
    oh = _pool_out_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = _pool_out_size(w, ws[1], stride[1], pad[1], ignore_border)
    for k in itertools.product(*map(range, lead)):
        for i, j in itertools.product(range(oh), range(ow)):
            # Window in padded coordinates, clipped to the padded image.
            r0, c0 = i * stride[0], j * stride[1]
            r1, c1 = min(r0 + ws[0], h + 2 * pad[0]), min(c0 + ws[1], w + 2 * pad[1])
            divisor = (r1 - r0) * (c1 - c0)
            # The same window clipped to the real image, back in input coordinates.
            rr0, rr1 = max(r0, pad[0]) - pad[0], min(r1, h + pad[0]) - pad[0]
            cc0, cc1 = max(c0, pad[1]) - pad[1], min(c1, w + pad[1]) - pad[1]
            if mode != "average_inc_pad":
                divisor = (rr1 - rr0) * (cc1 - cc0)
            yield k + (i, j), range(rr0, rr1), range(cc0, cc1), divisor


def _pool_out_shape(shape, ws, stride, pad, ignore_border):
    *lead, h, w = shape
    return tuple(lead) + (_pool_out_size(h, ws[0], stride[0], pad[0], ignore_border),
                          _pool_out_size(w, ws[1], stride[1], pad[1], ignore_border))


def pool2d_ref(x, ws, stride=None, pad=(0, 0), ignore_border=True, mode="max"):
    """Pooling over the last two axes with Theano's window, border and divisor rules."""
    stride = ws if stride is None else stride
    y = np.zeros(_pool_out_shape(x.shape, ws, stride, pad, ignore_border))
    for out, rows, cols, divisor in _pool_windows(x.shape, ws, stride, pad, ignore_border, mode):
        values = [float(x[out[:-2] + (r, c)]) for r in rows for c in cols]
        if mode == "max":
            y[out] = max(values)
        elif mode == "sum":
            y[out] = sum(values)
        else:
            y[out] = sum(values) / divisor
    return y.astype(x.dtype)


def pool2d_grad_ref(x, y, gy, ws, stride=None, pad=(0, 0), ignore_border=True, mode="max"):
    """Gradient of sum(gy * pool2d(x)) wrt x; for max every element equal to the window max
    gets gy (Theano's rule)."""
    stride = ws if stride is None else stride
    gx = np.zeros(x.shape)
    for out, rows, cols, divisor in _pool_windows(x.shape, ws, stride, pad, ignore_border, mode):
        for r in rows:
            for c in cols:
                at = out[:-2] + (r, c)
                if mode == "max":
                    gx[at] += gy[out] if x[at] == y[out] else 0.0
                elif mode == "sum":
                    gx[at] += gy[out]
                else:
                    gx[at] += gy[out] / divisor
    return gx.astype(x.dtype)
