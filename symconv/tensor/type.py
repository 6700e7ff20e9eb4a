"""Theano's tensor types: ``T.TensorType(dtype, broadcastable)``, ``T.dmatrix`` and friends as
callable type instances (``T.dmatrix('x').type == T.dmatrix``), and the plural constructors."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from symconv import graph
from symconv.config import config
from symconv.graph import Variable


class _TypeMeta(type):
    # every tensor type is a T.TensorType, including the ones ops infer (graph.TensorType)
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, graph.TensorType)


class TensorType(graph.TensorType, metaclass=_TypeMeta):
    """A tensor type read as Theano's: ``TensorType(dtype, broadcastable, name=None)``.

    ``shape=`` (symconv's static sizes, None where unknown) may replace ``broadcastable``.
    Calling the type makes a symbolic variable of it.
    """

    __slots__ = ()

    def __init__(self, dtype: Any, broadcastable: Sequence[bool] | None = None,
                 name: str | None = None, shape: Sequence[int | None] | None = None) -> None:
        if dtype == "floatX":
            dtype = config.floatX
        if broadcastable is not None and shape is None:
            broadcastable = tuple(bool(b) for b in broadcastable)
        super().__init__(dtype, shape, broadcastable)

    def __reduce__(self) -> tuple:
        return (graph.TensorType, (self.dtype, self.shape))


_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}
_KINDS = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
          "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
          "tensor5": (False,) * 5}
_PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
            "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s"}

TYPES: dict[str, TensorType] = {p + kind: TensorType(dtype, pattern)
                                for p, dtype in _PREFIX.items()
                                for kind, pattern in _KINDS.items()}


def _multi(make: Callable[..., Variable]) -> Callable[..., Variable | list[Variable]]:
    """Theano's plural constructor: ``f(3)`` makes three unnamed variables, ``f('a', 'b')`` or
    ``f('ab')`` one per name (a single name of one character gives one variable)."""
    def many(*names: Any) -> Variable | list[Variable]:
        if names and isinstance(names[0], int):
            return [make() for _ in range(names[0])]
        if len(names) == 1:
            names = names[0]
        if len(names) == 1:
            return make(names)
        return [make(name) for name in names]
    return many


def plural_constructors(singular: dict[str, Callable[..., Variable]]
                        ) -> dict[str, Callable[..., Variable | list[Variable]]]:
    """``{'dmatrices': ..., 'matrices': ...}`` from the singular constructors by name."""
    out = {}
    for prefix in [""] + list(_PREFIX):
        for kind, plural in _PLURALS.items():
            if prefix + kind in singular:
                out[prefix + plural] = _multi(singular[prefix + kind])
    return out
