"""Converting user values to a tensor type's arrays, with Theano's rules for casts."""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.graph import TensorType, is_literal


def filter_value(t: TensorType, data: Any, strict: bool = False,
                 allow_downcast: bool | None = None) -> np.ndarray:
    """``data`` as a NumPy array of type ``t``, or a TypeError/ValueError saying why not.

    strict: only an ndarray of exactly the dtype is accepted. allow_downcast=True: any value is
    cast. None (the default): safe casts, Python floats to floatX, and numbers or lists whose
    values survive the cast exactly; anything else would lose precision and is refused.
    """
    if not isinstance(t, TensorType):   # a sparse or generic type converts its own values
        return t.filter(data, strict, allow_downcast)
    if type(data) is np.ndarray and data.dtype.name == t.dtype:
        arr = data
    elif strict:
        raise TypeError(f"expected a numpy.ndarray of dtype {t.dtype} (strict), got "
                        f"{_describe(data)}")
    elif allow_downcast:
        arr = np.asarray(data, dtype=t.dtype)
    else:
        arr = _cast_without_loss(t, data, allow_downcast)
    error = t.value_error(arr)
    if error is not None:
        raise TypeError(error)
    return arr


def _describe(data: Any) -> str:
    if hasattr(data, "dtype") and hasattr(data, "shape"):
        return f"{type(data).__name__} of dtype {data.dtype} and shape {tuple(data.shape)}"
    return f"{type(data).__name__} {data!r:.60}"


def _cast_without_loss(t: TensorType, data: Any, allow_downcast: bool | None) -> np.ndarray:
    from symconv.config import config
    if isinstance(data, (np.ndarray, np.generic)):
        if np.can_cast(data.dtype, t.dtype, casting="safe"):
            return np.asarray(data, dtype=t.dtype)
        raise TypeError(
            f"a {_describe(data)} cannot be stored in a {t} without loss of precision; convert "
            f"it with numpy.asarray(value, dtype='{t.dtype}') or pass allow_input_downcast=True")
    if isinstance(data, float) and allow_downcast is None and t.dtype == config.floatX:
        return np.asarray(data, dtype=t.dtype)
    if hasattr(data, "__cuda_array_interface__"):
        data = data.get()
        return _cast_without_loss(t, data, allow_downcast)
    converted = np.asarray(data)
    if converted.dtype == object:
        raise TypeError(f"cannot convert {_describe(data)} to an array of {t.dtype}")
    if np.can_cast(converted.dtype, t.dtype, casting="safe"):
        return converted.astype(t.dtype)
    with np.errstate(all="ignore"):
        cast = converted.astype(t.dtype)
    if (is_literal(data) or isinstance(data, (list, tuple))) and np.array_equal(cast, converted):
        return cast
    raise TypeError(
        f"{t} cannot store {_describe(data)} accurately (it would become "
        f"{np.array2string(cast, threshold=6)}); convert it with numpy.asarray(value, "
        f"dtype='{t.dtype}') or pass allow_input_downcast=True")


def is_array_value(value: Any) -> bool:
    """An array or number (as opposed to a SciPy sparse matrix or a generic Python object)."""
    return isinstance(value, (np.ndarray, np.generic, bool, int, float, complex)) or \
        hasattr(value, "__cuda_array_interface__") or hasattr(value, "__array_interface__")


def copy_value(value: Any) -> Any:
    """A copy of a value that is not an array, as Theano's output copy: ``value.copy()`` where
    there is one (SciPy matrices, dicts, lists: shallow), else a deep copy."""
    import copy
    if callable(getattr(value, "copy", None)):
        return value.copy()
    return copy.deepcopy(value)
