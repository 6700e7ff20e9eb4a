"""2D convolution (Theano's AbstractConv2d semantics) and its two gradients, as one closed family.

``conv2d(x, w)``, ``conv2d_grad_wrt_inputs(gy, w, hw)`` and ``conv2d_grad_wrt_weights(x, gy, khw)``
are bilinear, so each one's gradient is again one of the three: second-order gradients come free.
The generic kernels are a plain im2col over filter taps against ``xp`` (NumPy or CuPy); the NumPy
backend binds faster kernels (symconv.backends.numpy_conv).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

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


def dilated(k: int, dilation: int) -> int:
    """Extent of a k-tap filter axis with the given dilation: (k - 1) * d + 1."""
    return (k - 1) * dilation + 1


def output_length(size: int, dk: int, pad: int, stride: int) -> int:
    """The convolution's output length along one axis: (in + 2 pad - dk) // s + 1."""
    return (size + 2 * pad - dk) // stride + 1


def border_pad(border_mode: Any, kh: int, kw: int, dilation: Pair) -> Pair:
    """Zero padding (rows, cols) that ``border_mode`` gives for a (kh, kw) filter."""
    dkh, dkw = dilated(kh, dilation[0]), dilated(kw, dilation[1])
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
    """Output length along spatial ``axis`` (0 rows, 1 cols); None where a size is unknown."""
    if size is None or k is None:
        return None
    pad = border_pad(border_mode, k, k, filter_dilation)[axis]
    return output_length(size, dilated(k, filter_dilation[axis]), pad, subsample[axis])


class ConvParams(NamedTuple):
    """A conv node's parameters (canonical_params' form), as the kernels take them."""

    border_mode: Any
    subsample: Pair
    filter_flip: bool
    filter_dilation: Pair
    num_groups: int

    @classmethod
    def of(cls, node: Any) -> "ConvParams":
        """The parameters of a conv-family node."""
        return cls(**node.kw)

    def pad(self, kh: int, kw: int) -> Pair:
        """Zero padding for a (kh, kw) filter."""
        return border_pad(self.border_mode, kh, kw, self.filter_dilation)

    def kernel_args(self) -> dict:
        """Keyword arguments (besides pad) of the backends' conv kernels."""
        return {"subsample": self.subsample, "dilation": self.filter_dilation,
                "flip": self.filter_flip, "groups": self.num_groups}


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution's sizes: NCHW input, (O, C // groups, kh, kw) filters, padding, strides,
    dilation, output size and filter flip. Every kernel (generic, NumPy, CUDA) reads it."""

    n: int
    c: int
    h: int
    w: int
    o: int
    groups: int
    kh: int
    kw: int
    ph: int
    pw: int
    sh: int
    sw: int
    dh: int
    dw: int
    oh: int
    ow: int
    flip: bool

    @classmethod
    def make(cls, x_shape: tuple, w_shape: tuple, pad: Pair = (0, 0), subsample: Pair = (1, 1),
             dilation: Pair = (1, 1), flip: bool = True, groups: int = 1, **extra: Any
             ) -> "ConvGeometry":
        """Validated geometry of concrete shapes (channels must match, the output not empty)."""
        n, c, h, w = (int(s) for s in x_shape)
        o, cg, kh, kw = (int(s) for s in w_shape)
        if groups < 1:
            raise ValueError(f"conv2d: num_groups must be >= 1, got {groups}")
        check_channels("conv2d", (n, c, h, w), (o, cg, kh, kw), groups)
        (ph, pw), (sh, sw), (dh, dw) = pad, subsample, dilation
        oh = output_length(h, dilated(kh, dh), ph, sh)
        ow = output_length(w, dilated(kw, dw), pw, sw)
        if oh < 1 or ow < 1:
            raise ValueError(f"conv2d: the filters {tuple(w_shape)} do not fit the input "
                             f"{tuple(x_shape)} with padding {tuple(pad)} and dilation "
                             f"{tuple(dilation)} (empty output)")
        return cls(n, c, h, w, o, groups, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow, bool(flip),
                   **extra)

    @classmethod
    def of_params(cls, x_shape: tuple, w_shape: tuple, params: dict) -> "ConvGeometry":
        """Geometry from a node's parameters (border_mode gives the padding)."""
        p = ConvParams(**params)
        return cls.make(x_shape, w_shape, p.pad(int(w_shape[2]), int(w_shape[3])),
                        **p.kernel_args())

    @property
    def cg(self) -> int:
        return self.c // self.groups

    @property
    def og(self) -> int:
        return self.o // self.groups

    @property
    def kg(self) -> int:
        """Rows of one group's columns: Cg * kh * kw."""
        return self.cg * self.kh * self.kw

    @property
    def p(self) -> int:
        """Output positions per image: OH * OW."""
        return self.oh * self.ow

    @property
    def hp(self) -> int:
        return self.h + 2 * self.ph

    @property
    def wp(self) -> int:
        return self.w + 2 * self.pw

    @property
    def x_shape(self) -> tuple:
        return (self.n, self.c, self.h, self.w)

    @property
    def w_shape(self) -> tuple:
        return (self.o, self.cg, self.kh, self.kw)

    @property
    def out_shape(self) -> tuple:
        return (self.n, self.o, self.oh, self.ow)

    def tap(self, p: int, q: int) -> tuple[slice, slice]:
        """The padded-input rows and columns that filter tap (p, q) reads for all outputs."""
        r0, c0 = p * self.dh, q * self.dw
        return (slice(r0, r0 + self.sh * (self.oh - 1) + 1, self.sh),
                slice(c0, c0 + self.sw * (self.ow - 1) + 1, self.sw))

    def taps(self) -> list[tuple[slice, slice]]:
        """Every tap's rows and columns, row-major over (p, q)."""
        return [self.tap(p, q) for p in range(self.kh) for q in range(self.kw)]

    def oriented(self, w: Any) -> Any:
        """The filters as the correlation reads them: flipped for a true convolution."""
        return w[:, :, ::-1, ::-1] if self.flip else w

    def check_output_grad(self, gy_shape: tuple) -> None:
        """gy must have the convolution's output shape."""
        if tuple(gy_shape) != self.out_shape:
            raise ValueError(f"conv2d gradient: gy has shape {tuple(gy_shape)}, the convolution "
                             f"gives {self.out_shape}")


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


def _im2col(xp: Any, x: Any, g: ConvGeometry) -> Any:
    """(N, G, Cg * kh * kw, OH * OW) columns of the zero-padded input."""
    xpad = xp.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw))) if g.ph or g.pw else x
    cols = xp.stack([xpad[:, :, rows, cols] for rows, cols in g.taps()], axis=2)
    return cols.reshape(g.n, g.groups, g.kg, g.p)


def _filter_matrix(xp: Any, w: Any, g: ConvGeometry) -> Any:
    return xp.ascontiguousarray(g.oriented(w)).reshape(g.groups, g.og, -1)


def _conv2d_kernel(xp: Any, x: Any, w: Any, **params: Any) -> Any:
    dtype = xp.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    g = ConvGeometry.of_params(x.shape, w.shape, params)
    y = xp.matmul(_filter_matrix(xp, w, g), _im2col(xp, x, g))
    return y.reshape(g.out_shape)


def _conv2d_grad_inputs_kernel(xp: Any, gy: Any, w: Any, hw: Any, **params: Any) -> Any:
    dtype = xp.result_type(gy, w)
    gy, w = gy.astype(dtype, copy=False), w.astype(dtype, copy=False)
    h, wd = (int(s) for s in hw)
    x_shape = (gy.shape[0], w.shape[1] * params["num_groups"], h, wd)
    g = ConvGeometry.of_params(x_shape, w.shape, params)
    g.check_output_grad(gy.shape)
    gyc = gy.reshape(g.n, g.groups, g.og, g.p)
    gcols = xp.matmul(_filter_matrix(xp, w, g).transpose(0, 2, 1), gyc)
    gcols = gcols.reshape(g.n, g.c, g.kh * g.kw, g.oh, g.ow)
    gxp = xp.zeros((g.n, g.c, g.hp, g.wp), dtype)
    for t, (rows, cols) in enumerate(g.taps()):
        gxp[:, :, rows, cols] += gcols[:, :, t]
    return xp.ascontiguousarray(gxp[:, :, g.ph:g.ph + h, g.pw:g.pw + wd])


def _conv2d_grad_weights_kernel(xp: Any, x: Any, gy: Any, khw: Any, **params: Any) -> Any:
    dtype = xp.result_type(x, gy)
    x, gy = x.astype(dtype, copy=False), gy.astype(dtype, copy=False)
    kh, kw = (int(s) for s in khw)
    w_shape = (gy.shape[1], x.shape[1] // params["num_groups"], kh, kw)
    g = ConvGeometry.of_params(x.shape, w_shape, params)
    g.check_output_grad(gy.shape)
    gyc = gy.reshape(g.n, g.groups, g.og, g.p)
    gw = xp.matmul(gyc, _im2col(xp, x, g).transpose(0, 1, 3, 2)).sum(axis=0).reshape(w_shape)
    return xp.ascontiguousarray(g.oriented(gw))


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
            gemm=True,
            doc="Theano's 2D convolution of NCHW images with (O, C // groups, kh, kw) filters.")
conv2d_grad_wrt_inputs = Op(
    "conv2d_grad_wrt_inputs", _grad_inputs_infer, _conv2d_grad_inputs_kernel, _grad_inputs_grad,
    prepare=_shape_prepare, infer_vars=True, gemm=True,
    doc="Gradient of sum(gy * conv2d(x, w)) wrt x; inputs (gy, w, spatial size of x).")
conv2d_grad_wrt_weights = Op(
    "conv2d_grad_wrt_weights", _grad_weights_infer, _conv2d_grad_weights_kernel,
    _grad_weights_grad, prepare=_shape_prepare, infer_vars=True, gemm=True,
    doc="Gradient of sum(gy * conv2d(x, w)) wrt w; inputs (x, gy, spatial size of w).")
