"""Theano's old ``tensor.nnet.conv.conv2d`` path ('valid' and 'full' true convolution)."""
from __future__ import annotations

from typing import Any, Sequence

from symconv.graph import Variable
from symconv.tensor.nnet.abstract_conv import conv2d as _conv2d


def conv2d(input: Any, filters: Any, image_shape: Sequence[Any] | None = None,
           filter_shape: Sequence[Any] | None = None, border_mode: str = "valid",
           subsample: Sequence[int] = (1, 1), **kwargs: Any) -> Variable:
    """2D convolution with the old signature (``image_shape`` is the input-shape hint).

    Parameters
    ----------
    input : 4-d tensor (batch, channels, rows, cols)
    filters : 4-d tensor (n_filters, channels, rows, cols)
    image_shape, filter_shape : optional 4-entry shape hints, checked at build time.
    border_mode : 'valid' or 'full'.
    subsample : (int, int) strides.

    Returns
    -------
    4-d tensor, the true (flipped-filter) convolution.
    """
    if border_mode not in ("valid", "full"):
        raise ValueError(f"conv.conv2d: border_mode must be 'valid' or 'full', got "
                         f"{border_mode!r} (use T.nnet.conv2d for other modes)")
    unknown = set(kwargs) - {"imshp", "kshp", "nkern", "bsize", "verbose", "version",
                             "direction_hint", "openmp"}
    if unknown:
        raise TypeError(f"conv.conv2d: unexpected keyword arguments {sorted(unknown)}")
    return _conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape,
                   border_mode=border_mode, subsample=subsample)
