"""2D convolution (Theano's AbstractConv2d semantics) and its two gradients, as one closed family.

``conv2d(x, w)``, ``conv2d_grad_wrt_inputs(gy, w, hw)`` and ``conv2d_grad_wrt_weights(x, gy, khw)``
are bilinear, so each one's gradient is again one of the three: second-order gradients come free.
The generic kernels are a plain im2col over filter taps against ``xp`` (NumPy or CuPy); the NumPy
backend binds faster kernels (symconv.backends.numpy_conv).
"""
from __future__ import annotations

from typing import Any

from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable, constant
from symconv.ops.elemwise import upcast

Pair = tuple[int, int]
CONV_PARAMS = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")


def _pair(value: Any, name: str, minimum: int) -> Pair:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"conv2d: {name} must be an int or a pair, got {value!r}")
        pair = tuple(int(v) for v in value)
    else:
        pair = (int(value), int(value))
    if any(v < minimum for v in pair):
        raise ValueError(f"conv2d: {name} must be >= {minimum}, got {value!r}")
    return pair


def canonical_params(border_mode: Any = "valid", subsample: Any = (1, 1),
                     filter_flip: bool = True, filter_dilation: Any = (1, 1),
                     num_groups: int = 1) -> dict:
    """The conv family's parameters in one hashable form, validated (errors at build time)."""
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a "
                             f"pair of ints, got {border_mode!r}")
    else:
        border_mode = _pair(border_mode, "border_mode", 0)
    num_groups = int(num_groups)
    if num_groups < 1:
        raise ValueError(f"conv2d: num_groups must be >= 1, got {num_groups}")
    return {"border_mode": border_mode, "subsample": _pair(subsample, "subsample", 1),
            "filter_flip": bool(filter_flip),
            "filter_dilation": _pair(filter_dilation, "filter_dilation", 1),
            "num_groups": num_groups}


def border_pad(border_mode: Any, kh: int, kw: int, dilation: Pair) -> Pair:
    """Zero padding (rows, cols) that ``border_mode`` gives for a (kh, kw) filter."""
    dkh, dkw = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if border_mode == "valid":
        return (0, 0)
    if border_mode == "full":
        return (dkh - 1, dkw - 1)
    if border_mode == "half":
        return (dkh // 2, dkw // 2)
    if isinstance(border_mode, int):
        return (border_mode, border_mode)
    return tuple(border_mode)


def conv_output_size(size: int | None, k: int | None, border_mode: Any, axis: int,
                     subsample: Pair, filter_dilation: Pair) -> int | None:
    """Output length along spatial ``axis`` (0 rows, 1 cols): (in + 2 pad - dk) // s + 1."""
    if size is None:
        return None
    if isinstance(border_mode, tuple):
        pad = border_mode[axis]
    elif k is None:
        return None
    else:
        pad = border_pad(border_mode, k, k, filter_dilation)[axis]
    if k is None:
        return None
    dk = (k - 1) * filter_dilation[axis] + 1
    return (size + 2 * pad - dk) // subsample[axis] + 1


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def _float_dtype(name: str, *types: TensorType) -> str:
    dtype = upcast(*[t.dtype for t in types])
    if not dtype.startswith("float"):
        raise TypeError(f"{name}: needs float tensors, got dtypes "
                        f"{', '.join(t.dtype for t in types)}")
    return dtype


def _check_4d(name: str, **types: TensorType) -> None:
    for what, t in types.items():
        if t.ndim != 4:
            raise TypeError(f"{name}: {what} must be a 4-d tensor, got {t}")


def check_channels(name: str, x_shape: tuple, w_shape: tuple, num_groups: int) -> None:
    """A channel mismatch between images and filters, named with both shapes."""
    c, cg, o = x_shape[1], w_shape[1], w_shape[0]
    if c is not None and cg is not None and c != cg * num_groups:
        groups = f" in {num_groups} groups" if num_groups > 1 else ""
        raise ValueError(f"{name}: input has {c} channels but the filters expect "
                         f"{cg * num_groups}{groups} (input shape {_shape_text(x_shape)}, "
                         f"filter shape {_shape_text(w_shape)})")
    if c is not None and c % num_groups:
        raise ValueError(f"{name}: {c} input channels cannot be split into num_groups="
                         f"{num_groups} groups (input shape {_shape_text(x_shape)})")
    if o is not None and o % num_groups:
        raise ValueError(f"{name}: {o} filters cannot be split into num_groups={num_groups} "
                         f"groups (filter shape {_shape_text(w_shape)})")


def _out_spatial(name: str, x_shape: tuple, w_shape: tuple, params: dict) -> tuple:
    out = []
    for axis in range(2):
        size = conv_output_size(x_shape[2 + axis], w_shape[2 + axis], params["border_mode"],
                                axis, params["subsample"], params["filter_dilation"])
        if size is not None and size < 1:
            raise ValueError(f"{name}: the filters {_shape_text(w_shape)} do not fit the input "
                             f"{_shape_text(x_shape)} with border_mode="
                             f"{params['border_mode']!r} and filter_dilation="
                             f"{params['filter_dilation']} (empty output)")
        out.append(size)
    return tuple(out)


def _conv_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    return [as_tensor_variable(x) for x in inputs], canonical_params(**params)


def _shape_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    """Two array inputs plus a spatial shape (ints, scalars or an int vector of length 2)."""
    a, b, hw = inputs
    if isinstance(hw, (list, tuple)):
        if len(hw) != 2:
            raise ValueError(f"conv2d gradient: the spatial shape needs 2 entries, got {hw!r}")
        if not any(isinstance(s, Variable) for s in hw):
            hw = constant([int(s) for s in hw], dtype="int64")
        else:
            from symconv.ops.elemwise import cast
            hw = as_tensor_variable([cast(as_tensor_variable(s), "int64") for s in hw])
    hw = as_tensor_variable(hw)
    if hw.ndim != 1 or hw.dtype[0] not in "iu":
        raise TypeError(f"conv2d gradient: the spatial shape must be an int vector, got {hw.type}")
    return [as_tensor_variable(a), as_tensor_variable(b), hw], canonical_params(**params)


def _static_hw(hw: Variable) -> tuple:
    if isinstance(hw, Constant):
        return tuple(int(v) for v in hw.data)
    return (None, None)


def _spatial_of(x: Variable) -> Variable:
    """The last two sizes of ``x``: a constant when static, else taken from ``shape(x)``."""
    if None not in x.type.shape[2:]:
        return constant(list(x.type.shape[2:]), dtype="int64")
    from symconv.ops.shape import shape_op
    return shape_op(x)[2:]


# ---- generic kernels (im2col over the filter taps, against xp) ---------------------------------


def _geometry(x_shape: tuple, w_shape: tuple, params: dict) -> dict:
    kh, kw = w_shape[2:]
    dh, dw = params["filter_dilation"]
    ph, pw = border_pad(params["border_mode"], kh, kw, params["filter_dilation"])
    sh, sw = params["subsample"]
    oh = (x_shape[2] + 2 * ph - (kh - 1) * dh - 1) // sh + 1
    ow = (x_shape[3] + 2 * pw - (kw - 1) * dw - 1) // sw + 1
    taps = [(slice(p * dh, p * dh + sh * (oh - 1) + 1, sh),
             slice(q * dw, q * dw + sw * (ow - 1) + 1, sw)) for p in range(kh) for q in range(kw)]
    return {"pad": (ph, pw), "out": (oh, ow), "taps": taps}


def _im2col(xp: Any, x: Any, geo: dict, groups: int) -> Any:
    """(N, G, Cg * kh * kw, OH * OW) columns of the zero-padded input."""
    (ph, pw), (oh, ow) = geo["pad"], geo["out"]
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    cols = xp.stack([xpad[:, :, rows, cols] for rows, cols in geo["taps"]], axis=2)
    n, c = x.shape[:2]
    return cols.reshape(n, groups, (c // groups) * len(geo["taps"]), oh * ow)


def _filter_matrix(xp: Any, w: Any, groups: int, flip: bool) -> Any:
    w = w[:, :, ::-1, ::-1] if flip else w
    o = w.shape[0]
    return xp.ascontiguousarray(w).reshape(groups, o // groups, -1)


def _conv2d_kernel(xp: Any, x: Any, w: Any, **params: Any) -> Any:
    dtype = xp.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    groups = params["num_groups"]
    geo = _geometry(x.shape, w.shape, params)
    cols = _im2col(xp, x, geo, groups)
    y = xp.matmul(_filter_matrix(xp, w, groups, params["filter_flip"]), cols)
    return y.reshape((x.shape[0], w.shape[0]) + geo["out"])


def _conv2d_grad_inputs_kernel(xp: Any, gy: Any, w: Any, hw: Any, **params: Any) -> Any:
    dtype = xp.result_type(gy, w)
    gy, w = gy.astype(dtype, copy=False), w.astype(dtype, copy=False)
    groups = params["num_groups"]
    h, wd = (int(s) for s in hw)
    n, o, cg = gy.shape[0], w.shape[0], w.shape[1]
    x_shape = (n, cg * groups, h, wd)
    geo = _geometry(x_shape, w.shape, params)
    (ph, pw), (oh, ow) = geo["pad"], geo["out"]
    wm = _filter_matrix(xp, w, groups, params["filter_flip"])
    gyc = gy.reshape(n, groups, o // groups, oh * ow)
    gcols = xp.matmul(wm.transpose(0, 2, 1), gyc)
    gcols = gcols.reshape(n, cg * groups, len(geo["taps"]), oh, ow)
    gxp = xp.zeros((n, cg * groups, h + 2 * ph, wd + 2 * pw), dtype)
    for t, (rows, cols) in enumerate(geo["taps"]):
        gxp[:, :, rows, cols] += gcols[:, :, t]
    return xp.ascontiguousarray(gxp[:, :, ph:ph + h, pw:pw + wd])


def _conv2d_grad_weights_kernel(xp: Any, x: Any, gy: Any, khw: Any, **params: Any) -> Any:
    dtype = xp.result_type(x, gy)
    x, gy = x.astype(dtype, copy=False), gy.astype(dtype, copy=False)
    groups = params["num_groups"]
    kh, kw = (int(s) for s in khw)
    n, c = x.shape[:2]
    o = gy.shape[1]
    w_shape = (o, c // groups, kh, kw)
    geo = _geometry(x.shape, w_shape, params)
    cols = _im2col(xp, x, geo, groups)
    gyc = gy.reshape(n, groups, o // groups, -1)
    gw = xp.matmul(gyc, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w_shape)
    if params["filter_flip"]:
        gw = gw[:, :, ::-1, ::-1]
    return xp.ascontiguousarray(gw)


# ---- type rules ---------------------------------------------------------------------------------


def _conv2d_infer(x: TensorType, w: TensorType, **params: Any) -> TensorType:
    _check_4d("conv2d", input=x, filters=w)
    dtype = _float_dtype("conv2d", x, w)
    check_channels("conv2d", x.shape, w.shape, params["num_groups"])
    return TensorType(dtype, (x.shape[0], w.shape[0]) + _out_spatial("conv2d", x.shape,
                                                                      w.shape, params))


def _grad_inputs_infer(gy: Variable, w: Variable, hw: Variable, **params: Any) -> TensorType:
    name = "conv2d_grad_wrt_inputs"
    _check_4d(name, output_grad=gy.type, filters=w.type)
    dtype = _float_dtype(name, gy.type, w.type)
    if w.type.shape[0] is not None and gy.type.shape[1] is not None and \
            w.type.shape[0] != gy.type.shape[1]:
        raise ValueError(f"{name}: output_grad has {gy.type.shape[1]} channels but there are "
                         f"{w.type.shape[0]} filters (output_grad shape "
                         f"{_shape_text(gy.type.shape)}, filter shape {_shape_text(w.type.shape)})")
    cg = w.type.shape[1]
    x_shape = (gy.type.shape[0], None if cg is None else cg * params["num_groups"]) + \
        _static_hw(hw)
    check_channels(name, x_shape, w.type.shape, params["num_groups"])
    _check_output_shape(name, x_shape, w.type.shape, gy.type.shape, params)
    return TensorType(dtype, x_shape)


def _grad_weights_infer(x: Variable, gy: Variable, khw: Variable, **params: Any) -> TensorType:
    name = "conv2d_grad_wrt_weights"
    _check_4d(name, input=x.type, output_grad=gy.type)
    dtype = _float_dtype(name, x.type, gy.type)
    c, groups = x.type.shape[1], params["num_groups"]
    w_shape = (gy.type.shape[1], None if c is None else c // groups) + _static_hw(khw)
    check_channels(name, x.type.shape, w_shape, groups)
    _check_output_shape(name, x.type.shape, w_shape, gy.type.shape, params)
    return TensorType(dtype, w_shape)


def _check_output_shape(name: str, x_shape: tuple, w_shape: tuple, gy_shape: tuple,
                        params: dict) -> None:
    want = _out_spatial(name, x_shape, w_shape, params)
    for axis, (a, b) in enumerate(zip(want, gy_shape[2:])):
        if a is not None and b is not None and a != b:
            raise ValueError(f"{name}: output_grad shape {_shape_text(gy_shape)} does not match "
                             f"the convolution of an input {_shape_text(x_shape)} with filters "
                             f"{_shape_text(w_shape)}, which gives {_shape_text(want)} spatially")
    if x_shape[0] is not None and gy_shape[0] is not None and x_shape[0] != gy_shape[0]:
        raise ValueError(f"{name}: batch sizes differ: input {_shape_text(x_shape)}, "
                         f"output_grad {_shape_text(gy_shape)}")


# ---- gradient rules: every one is again a member of the family ----------------------------------


def _conv2d_grad(g: Variable, out: Variable, x: Variable, w: Variable, **params: Any) -> list:
    # y = conv(x, w):  dx = conv^T_x(g, w),  dw = conv^T_w(x, g)
    return [conv2d_grad_wrt_inputs(g, w, _spatial_of(x), **params),
            conv2d_grad_wrt_weights(x, g, _spatial_of(w), **params)]


def _grad_inputs_grad(g: Variable, out: Variable, gy: Variable, w: Variable, hw: Variable,
                      **params: Any) -> list:
    # <g, conv^T_x(gy, w)> = <conv(g, w), gy>: linear in gy and in w
    return [conv2d(g, w, **params), conv2d_grad_wrt_weights(g, gy, _spatial_of(w), **params), None]


def _grad_weights_grad(g: Variable, out: Variable, x: Variable, gy: Variable, khw: Variable,
                       **params: Any) -> list:
    # <g, conv^T_w(x, gy)> = <conv(x, g), gy>: linear in x and in gy
    return [conv2d_grad_wrt_inputs(gy, g, _spatial_of(x), **params), conv2d(x, g, **params), None]


conv2d = Op("conv2d", _conv2d_infer, _conv2d_kernel, _conv2d_grad, prepare=_conv_prepare,
            doc="Theano's 2D convolution of NCHW images with (O, C // groups, kh, kw) filters.")
conv2d_grad_wrt_inputs = Op(
    "conv2d_grad_wrt_inputs", _grad_inputs_infer, _conv2d_grad_inputs_kernel, _grad_inputs_grad,
    prepare=_shape_prepare, infer_vars=True,
    doc="Gradient of sum(gy * conv2d(x, w)) wrt x; inputs (gy, w, spatial size of x).")
conv2d_grad_wrt_weights = Op(
    "conv2d_grad_wrt_weights", _grad_weights_infer, _conv2d_grad_weights_kernel,
    _grad_weights_grad, prepare=_shape_prepare, infer_vars=True,
    doc="Gradient of sum(gy * conv2d(x, w)) wrt w; inputs (x, gy, spatial size of w).")
