"""``T.nnet.conv2d`` and its gradient functions, with Theano's signatures and semantics."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from symconv.graph import Variable, as_tensor_variable
from symconv.ops import conv as _conv

ShapeHint = Sequence[Any] | None


def _hint(hint: ShapeHint, var: Variable | None, name: str, what: str) -> tuple | None:
    """A 4-entry shape hint as a tuple (None or symbolic where unknown), checked against the
    variable's static shape."""
    if hint is None:
        return None
    hint = tuple(hint)
    if len(hint) != 4:
        raise ValueError(f"{name}: {what} must have 4 entries (batch, channels, rows, cols), "
                         f"got {hint!r}")
    static = tuple(None if h is None or isinstance(h, Variable) else int(h) for h in hint)
    if var is not None:
        for axis, (h, s) in enumerate(zip(static, var.type.shape)):
            if h is not None and s is not None and h != s:
                raise ValueError(f"{name}: {what} {static} does not match the static shape "
                                 f"{var.type.shape} of {var} (axis {axis})")
    return static


def _known(hint: tuple | None, var: Variable) -> tuple:
    """What the hint and the static shape together say about a 4-d variable's shape."""
    static = var.type.shape if var.ndim == 4 else (None,) * 4
    if hint is None:
        return static
    return tuple(h if h is not None else s for h, s in zip(hint, static))


def conv2d(input: Any, filters: Any, input_shape: ShapeHint = None, filter_shape: ShapeHint = None,
           border_mode: Any = "valid", subsample: Sequence[int] = (1, 1), filter_flip: bool = True,
           image_shape: ShapeHint = None, filter_dilation: Sequence[int] = (1, 1),
           num_groups: int = 1, **kwargs: Any) -> Variable:
    """2D convolution of a minibatch of images with a bank of filters (Theano semantics).

    Parameters
    ----------
    input : 4-d tensor, (batch, channels, rows, cols)
    filters : 4-d tensor, (n_filters, channels // num_groups, rows, cols)
    input_shape, filter_shape : tuple of 4 ints or None, optional
        Shape hints; checked against each other and against the static shapes at build time.
    border_mode : 'valid', 'full', 'half', int or (int, int)
        'valid': no padding; 'full': pad ``dk - 1``; 'half': pad ``dk // 2``; ints: that padding,
        where ``dk = (k - 1) * dilation + 1``.
    subsample : (int, int)
        Strides.
    filter_flip : bool
        True (default) flips the filters: a true convolution; False is cross-correlation.
    image_shape : deprecated alias of ``input_shape``.
    filter_dilation : (int, int)
        Spacing between filter taps.
    num_groups : int
        Channel groups (grouped convolution).

    Returns
    -------
    4-d tensor (batch, n_filters, out_rows, out_cols) with
    ``out = (in + 2 * pad - dk) // subsample + 1``.
    """
    if kwargs.pop("unshared", False):
        raise NotImplementedError("conv2d: unshared=True is not supported")
    if kwargs:
        raise TypeError(f"conv2d: unexpected keyword arguments {sorted(kwargs)}")
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: input_shape and image_shape should not be provided at "
                             "the same time")
        warnings.warn("The `image_shape` keyword argument to `tensor.nnet.conv2d` is deprecated, "
                      "it has been renamed to `input_shape`.", DeprecationWarning, stacklevel=2)
        input_shape = image_shape
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    x_hint = _hint(input_shape, input, "conv2d", "input_shape")
    w_hint = _hint(filter_shape, filters, "conv2d", "filter_shape")
    _conv.check_channels("conv2d", _known(x_hint, input), _known(w_hint, filters), num_groups)
    return _conv.conv2d(input, filters, border_mode=border_mode, subsample=subsample,
                        filter_flip=filter_flip, filter_dilation=filter_dilation,
                        num_groups=num_groups)


def _spatial(shape: Any, name: str, what: str) -> Any:
    """The last two entries of a full 4-entry shape (tuple, list or int vector variable)."""
    if isinstance(shape, Variable):
        if shape.ndim != 1:
            raise TypeError(f"{name}: {what} must be a vector of 4 ints, got {shape.type}")
        return shape[2:]
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(f"{name}: {what} must have 4 entries, got {shape!r}")
    if any(s is None for s in shape[2:]):
        raise ValueError(f"{name}: the spatial sizes in {what} {shape!r} must be given")
    return list(shape[2:])


def conv2d_grad_wrt_inputs(output_grad: Any, filters: Any, input_shape: Any,
                           filter_shape: ShapeHint = None, border_mode: Any = "valid",
                           subsample: Sequence[int] = (1, 1), filter_flip: bool = True,
                           filter_dilation: Sequence[int] = (1, 1),
                           num_groups: int = 1) -> Variable:
    """Gradient of a ``conv2d`` with these parameters wrt its input, given the output gradient.

    Parameters
    ----------
    output_grad : 4-d tensor, the gradient of the cost wrt the convolution's output.
    filters : 4-d tensor, the convolution's filters.
    input_shape : 4 ints (or scalars; the spatial ones are required): the input's shape, which
        strides make ambiguous otherwise.
    filter_shape : optional hint, checked.
    Other parameters are those of `conv2d`.

    Returns
    -------
    4-d tensor of shape ``input_shape``.
    """
    name = "conv2d_grad_wrt_inputs"
    filters = as_tensor_variable(filters)
    w_hint = _hint(filter_shape, filters, name, "filter_shape")
    if not isinstance(input_shape, Variable):
        _conv.check_channels(name, _hint(input_shape, None, name, "input_shape"),
                             _known(w_hint, filters), num_groups)
    return _conv.conv2d_grad_wrt_inputs(output_grad, filters,
                                        _spatial(input_shape, name, "input_shape"),
                                        border_mode=border_mode, subsample=subsample,
                                        filter_flip=filter_flip, filter_dilation=filter_dilation,
                                        num_groups=num_groups)


def conv2d_grad_wrt_weights(input: Any, output_grad: Any, filter_shape: Any,
                            input_shape: ShapeHint = None, border_mode: Any = "valid",
                            subsample: Sequence[int] = (1, 1), filter_flip: bool = True,
                            filter_dilation: Sequence[int] = (1, 1),
                            num_groups: int = 1) -> Variable:
    """Gradient of a ``conv2d`` with these parameters wrt its filters, given the output gradient.

    Parameters
    ----------
    input : 4-d tensor, the convolution's input.
    output_grad : 4-d tensor, the gradient of the cost wrt the convolution's output.
    filter_shape : 4 ints (the spatial ones are required): the filters' shape.
    input_shape : optional hint, checked.
    Other parameters are those of `conv2d`.

    Returns
    -------
    4-d tensor of shape ``filter_shape``.
    """
    name = "conv2d_grad_wrt_weights"
    input = as_tensor_variable(input)
    x_hint = _hint(input_shape, input, name, "input_shape")
    if not isinstance(filter_shape, Variable):
        _conv.check_channels(name, _known(x_hint, input),
                             _hint(filter_shape, None, name, "filter_shape"), num_groups)
    return _conv.conv2d_grad_wrt_weights(input, output_grad,
                                         _spatial(filter_shape, name, "filter_shape"),
                                         border_mode=border_mode, subsample=subsample,
                                         filter_flip=filter_flip, filter_dilation=filter_dilation,
                                         num_groups=num_groups)


def conv2d_transpose(input: Any, filters: Any, output_shape: Any, filter_shape: ShapeHint = None,
                     border_mode: Any = "valid", input_dilation: Sequence[int] = (1, 1),
                     filter_flip: bool = True, filter_dilation: Sequence[int] = (1, 1),
                     num_groups: int = 1) -> Variable:
    """Transposed convolution ("deconvolution"): the gradient of ``conv2d`` wrt its input.

    ``input_dilation`` is the stride of the convolution being transposed; ``output_shape`` the
    shape of the result (that convolution's input).
    """
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape=filter_shape,
                                  border_mode=border_mode, subsample=input_dilation,
                                  filter_flip=filter_flip, filter_dilation=filter_dilation,
                                  num_groups=num_groups)


def get_conv_shape_1axis(image_shape: int | None, kernel_shape: int | None,
                         border_mode: str | int, subsample: int, dilation: int = 1
                         ) -> int | None:
    """Output size of a convolution along one axis (None when an input size is unknown)."""
    if image_shape is None or kernel_shape is None:
        return None
    dil_kernel = (kernel_shape - 1) * dilation + 1
    if border_mode == "half":
        pad = dil_kernel // 2
    elif border_mode == "full":
        pad = dil_kernel - 1
    elif border_mode == "valid":
        pad = 0
    else:
        pad = int(border_mode)
        if pad < 0:
            raise ValueError("border_mode must be >= 0")
    return (image_shape + 2 * pad - dil_kernel) // subsample + 1


def get_conv_output_shape(image_shape: Sequence, kernel_shape: Sequence,
                          border_mode: Any, subsample: Sequence,
                          filter_dilation: Sequence | None = None) -> tuple:
    """(batch, output channels, *spatial sizes) of a convolution, as Theano's function."""
    bsize, imshp = image_shape[0], image_shape[2:]
    nkern, kshp = kernel_shape[0], kernel_shape[2:]
    dilation = filter_dilation or (1,) * len(subsample)
    if isinstance(border_mode, tuple):
        spatial = tuple(get_conv_shape_1axis(imshp[i], kshp[i], border_mode[i], subsample[i],
                                             dilation[i]) for i in range(len(subsample)))
    else:
        spatial = tuple(get_conv_shape_1axis(imshp[i], kshp[i], border_mode, subsample[i],
                                             dilation[i]) for i in range(len(subsample)))
    return (bsize, nkern) + spatial


def bilinear_kernel_1D(ratio: int, normalize: bool = True) -> Variable:
    """Theano's 1-d bilinear kernel ``[1, 2, ..., ratio, ..., 2, 1]`` (divided by ``ratio``
    when ``normalize``), of length ``2 * ratio - 1``, in floatX."""
    import symconv.tensor as T
    from symconv.config import config
    half = T.arange(1, ratio + 1, dtype=config.floatX)
    kern = T.concatenate([half, half[-2::-1]])
    return kern / T.cast(ratio, config.floatX) if normalize else kern


def bilinear_kernel_2D(ratio: Any, normalize: bool = True) -> Variable:
    """The outer product of the 1-d kernels of ``ratio`` (an int, or (rows, cols))."""
    rows, cols = (ratio, ratio) if not isinstance(ratio, (tuple, list)) else ratio
    return (bilinear_kernel_1D(rows, normalize).dimshuffle(0, "x")
            * bilinear_kernel_1D(cols, normalize).dimshuffle("x", 0))


def bilinear_upsampling(input: Any, ratio: int | None = None, frac_ratio: Any = None,
                        batch_size: int | None = None, num_input_channels: int | None = None,
                        use_1D_kernel: bool = True) -> Variable:
    """Upsample the last two axes of a 4-d ``input`` by the integer ``ratio`` with bilinear
    interpolation (edges replicated), as Theano: the result is (batch, channels, rows * ratio,
    cols * ratio). ``batch_size``/``num_input_channels`` are accepted hints; both kernel forms
    give the same values. Fractional ratios are not supported."""
    import symconv.tensor as T
    from symconv.config import config
    from symconv.ops.upsample import upsample_bilinear
    if ratio and frac_ratio:
        raise ValueError("can't use ratio and frac_ratio together")
    if not (ratio or frac_ratio):
        raise ValueError("No ratio (or frac_ratio) provided")
    if frac_ratio:
        raise NotImplementedError("bilinear_upsampling: frac_ratio is not supported by symconv; "
                                  "use an integer ratio")
    if int(ratio) != ratio or ratio < 1:
        raise ValueError(f"bilinear_upsampling: ratio must be a positive int, got {ratio!r}")
    input = as_tensor_variable(input)
    if input.ndim != 4:
        raise TypeError(f"bilinear_upsampling: input must be 4-d (batch, channels, rows, cols), "
                        f"got {input} of type {input.type}")
    from symconv.ops.elemwise import upcast
    dtype = upcast(input.dtype, config.floatX)   # Theano's kernel is floatX
    x = T.cast(input, dtype) if dtype != input.dtype else input
    rows = upsample_bilinear(x, ratio=int(ratio), axis=2)
    return upsample_bilinear(rows, ratio=int(ratio), axis=3)
