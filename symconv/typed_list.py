"""``theano.typed_list``: a list of values of one tensor type in a graph, CPU only.

Values are Python lists of arrays. The ops (``append``, ``extend``, ``insert``, ``remove``,
``reverse``, ``index_``, ``count``, ``length``, ``make_list`` and ``tl[i]``/``tl[a:b]``) return
new lists of new arrays (never an input's, so results never alias the caller's values), have no
gradients (as Theano's), and are refused by the CUDA backend by name. A typed list can be a
scan non-sequence, as in Theano.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from symconv.backends.base import override
from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable
from symconv.values import filter_value


class TypedListType:
    """The type of a list whose elements all have type ``ttype`` (a tensor type, or another
    typed list type when ``depth`` > 0)."""

    __slots__ = ("ttype",)
    dtype = "object"
    ndim = 0
    shape: tuple = ()
    broadcastable: tuple = ()

    def __init__(self, ttype: Any, depth: int = 0) -> None:
        if depth < 0:
            raise ValueError("TypedListType: depth must be >= 0")
        if not isinstance(ttype, (TensorType, TypedListType)):
            raise TypeError(f"TypedListType: expected a tensor type (T.fvector, ...), got "
                            f"{ttype!r}")
        object.__setattr__(self, "ttype", ttype if depth == 0 else TypedListType(ttype,
                                                                                  depth - 1))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("TypedListType is immutable")

    def __reduce__(self) -> tuple:
        return (TypedListType, (self.ttype,))

    @property
    def variable_class(self) -> type:
        return TypedListVariable

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypedListType) and self.ttype == other.ttype

    def __hash__(self) -> int:
        return hash(("typed_list", self.ttype))

    def __call__(self, name: str | None = None) -> "TypedListVariable":
        return TypedListVariable(self, None, name)

    def __str__(self) -> str:
        return f"TypedList <{self.ttype}>"

    __repr__ = __str__

    def get_depth(self) -> int:
        """0 for a list of tensors, 1 for a list of such lists, ..."""
        return self.ttype.get_depth() + 1 if isinstance(self.ttype, TypedListType) else 0

    def value_error(self, value: Any) -> str | None:
        return None if isinstance(value, list) else f"expected a list, got {type(value)}"

    def filter(self, value: Any, strict: bool = False, allow_downcast: bool | None = None
               ) -> list:
        """``value`` as a list of the element type's values (each converted as an input)."""
        if strict and not isinstance(value, list):
            raise TypeError(f"{self}: expected a Python list (strict), got {type(value)}")
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{self}: expected a list, got {type(value).__name__}")
        if isinstance(self.ttype, TypedListType):
            return [self.ttype.filter(v, strict, allow_downcast) for v in value]
        return [filter_value(self.ttype, v, allow_downcast=allow_downcast) for v in value]


class TypedListVariable(Variable):
    """A symbolic typed list: ``tl[i]``, ``len``-like ``length``, and the list methods."""

    __slots__ = ()

    def __getitem__(self, index: Any) -> Variable:
        return getitem(self, index)

    def append(self, value: Any) -> "TypedListVariable":
        return append(self, value)

    def extend(self, values: Any) -> "TypedListVariable":
        return extend(self, values)

    def insert(self, index: Any, value: Any) -> "TypedListVariable":
        return insert(self, index, value)

    def remove(self, value: Any) -> "TypedListVariable":
        return remove(self, value)

    def reverse(self) -> "TypedListVariable":
        return reverse(self)

    def count(self, value: Any) -> Variable:
        return count(self, value)

    def ind(self, value: Any) -> Variable:   # (``index`` is taken, as in Theano)
        return index_(self, value)

    @property
    def ttype(self) -> Any:
        return self.type.ttype


def _list_op(name: str, infer: Any, kernel: Any) -> Op:
    op = Op("typed_list_" + name, infer, kernel, differentiable=False,
            doc=f"Theano's typed_list.{name}.")
    op.foldable = False
    op.any_type = True

    @override("cuda", op)
    def _refuse(backend: Any, node: Any) -> Any:
        raise NotImplementedError(f"typed_list.{name} (created at {node.out.trace}) runs on the "
                                  f"CPU only; compile with device=cpu")
    return op


def _need_list(name: str, t: Any) -> TypedListType:
    if not isinstance(t, TypedListType):
        raise TypeError(f"typed_list.{name}: expected a typed list, got {t}")
    return t


def _need_elem(name: str, t: TypedListType, e: Any) -> None:
    if e != t.ttype and not (isinstance(e, TensorType) and isinstance(t.ttype, TensorType)
                             and e.dtype == t.ttype.dtype and e.ndim == t.ttype.ndim):
        raise TypeError(f"typed_list.{name}: element of type {e} does not fit {t}")


def _same(a: Any, b: Any) -> bool:
    return np.array_equal(a, b) if not isinstance(a, list) else (
        isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b)))


def _own(value: Any) -> Any:
    """A copy: results never share arrays with the inputs (the caller's lists)."""
    return [_own(v) for v in value] if isinstance(value, list) else np.array(value)


_getitem = _list_op("getitem", lambda t, i: _need_list("getitem", t).ttype,
                    lambda xp, x, i: _own(x[int(i)]))


def getitem(x: Any, index: Any) -> Variable:
    """``x[i]`` (an element; ``i`` an int or int scalar) or ``x[a:b:c]`` (a list)."""
    if isinstance(index, slice):
        bounds = [None if b is None else as_tensor_variable(b) for b in
                  (index.start, index.stop, index.step)]
        return _slice(x, bounds)
    index = as_tensor_variable(index)
    if index.ndim != 0 or index.dtype[0] not in "iu":
        raise TypeError(f"typed_list.getitem: expected an int scalar or a slice, got {index}")
    return _getitem(x, index)


def _slice(x: Any, bounds: list) -> Variable:
    # an absent bound is a placeholder input that ``mask`` says to read as None
    given = [b if b is not None else Constant(TensorType("int64", ()), np.array(0)) for b in
             bounds]
    mask = tuple(b is not None for b in bounds)
    return _slice_op(x, *given, mask=mask)


def _slice_kernel(xp: Any, x: list, *bounds: Any, mask: tuple) -> list:
    return _own(x[slice(*[int(b) if m else None for b, m in zip(bounds, mask)])])


_slice_op = _list_op("slice", lambda t, *b, mask: _need_list("getitem", t), _slice_kernel)


def _two(name: str, result: Any, kernel: Any) -> Op:
    def infer(t: Any, e: Any) -> Any:
        _need_list(name, t)
        if name == "extend":
            if e != t:
                raise TypeError(f"typed_list.extend: {e} does not fit {t}")
        else:
            _need_elem(name, t, e)
        # count and index_ are floatX scalars, as Theano's (T.scalar())
        return t if result == "list" else TensorType(_floatx(), ())
    return _list_op(name, infer, kernel)


def _floatx() -> str:
    from symconv.config import config
    return config.floatX


append = _two("append", "list", lambda xp, x, v: _own(x + [v]))
extend = _two("extend", "list", lambda xp, x, v: _own(x + list(v)))
count = _two("count", "int", lambda xp, x, v: np.asarray(sum(_same(e, v) for e in x),
                                                         dtype=_floatx()))


def _remove_kernel(xp: Any, x: list, v: Any) -> list:
    for i, e in enumerate(x):
        if _same(e, v):
            return _own(x[:i] + x[i + 1:])
    raise ValueError("typed_list.remove: the value is not in the list")


def _index_kernel(xp: Any, x: list, v: Any) -> Any:
    for i, e in enumerate(x):
        if _same(e, v):
            return np.asarray(i, dtype=_floatx())
    raise ValueError("typed_list.index_: the value is not in the list")


remove = _two("remove", "list", _remove_kernel)
index_ = _two("index", "int", _index_kernel)
reverse = _list_op("reverse", lambda t: _need_list("reverse", t), lambda xp, x: _own(x[::-1]))
length = _list_op("length", lambda t: (_need_list("length", t), TensorType("int64", ()))[1],
                  lambda xp, x: np.int64(len(x)))


def _insert_infer(t: Any, i: Any, e: Any) -> Any:
    _need_list("insert", t)
    _need_elem("insert", t, e)
    return t


insert = _list_op("insert", _insert_infer,
                  lambda xp, x, i, v: _own(x[:int(i)] + [v] + x[int(i):]))


def _make_infer(*types: Any) -> TypedListType:
    if not types:
        raise TypeError("typed_list.make_list: give at least one element")
    for t in types[1:]:
        if t != types[0]:
            raise TypeError(f"typed_list.make_list: elements of types {types[0]} and {t}")
    return TypedListType(types[0])


_make_list = _list_op("make_list", _make_infer, lambda xp, *values: _own(list(values)))


def make_list(a: Sequence[Any]) -> TypedListVariable:
    """A typed list of the given variables (all of one type)."""
    return _make_list(*[as_tensor_variable(v) for v in a])


__all__ = ["TypedListType", "TypedListVariable", "getitem", "append", "extend", "insert",
           "remove", "reverse", "index_", "count", "length", "make_list"]
