"""Theano's old ``tensor.signal.downsample`` path (moved to ``signal.pool``)."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from symconv.graph import Variable
from symconv.tensor.signal.pool import pool_2d


def max_pool_2d(input: Any, ds: Sequence[int], ignore_border: bool | None = None,
                st: Sequence[int] | None = None, padding: Sequence[int] = (0, 0),
                mode: str = "max") -> Variable:
    """Deprecated: ``pool_2d(input, ws=ds, ignore_border, stride=st, pad=padding, mode)``."""
    warnings.warn("downsample.max_pool_2d is deprecated; use "
                  "symconv.tensor.signal.pool.pool_2d(input, ws, ignore_border, stride, pad, "
                  "mode)", DeprecationWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pool_2d(input, ws=tuple(ds), ignore_border=ignore_border,
                       stride=None if st is None else tuple(st), pad=tuple(padding), mode=mode)
