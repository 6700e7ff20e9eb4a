"""Sparse matrix types and variables (Theano's ``SparseType``): SciPy csc/csr matrices in graphs."""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from symconv.graph import Constant, SharedVariable, Variable

FORMATS = {"csc": sp.csc_matrix, "csr": sp.csr_matrix}
all_dtypes = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float32", "float64", "complex64", "complex128"}


class SparseType:
    """A 2-d sparse matrix of one format ('csc' or 'csr') and dtype: ``SparseType('csc',
    'float64')``. Calling it makes a symbolic variable (as Theano's types)."""

    __slots__ = ("format", "dtype")
    format_cls = FORMATS
    dtype_set = all_dtypes
    ndim = 2
    shape = (None, None)
    broadcastable = (False, False)

    def __init__(self, format: str, dtype: Any) -> None:
        from symconv.config import config
        if format not in FORMATS:
            raise NotImplementedError(f"SparseType: format {format!r} is not supported; "
                                      f"use one of {sorted(FORMATS)}")
        dtype = config.floatX if dtype in (None, "floatX") else np.dtype(dtype).name
        if dtype not in all_dtypes:
            raise NotImplementedError(f"SparseType: dtype {dtype!r} is not supported; "
                                      f"supported: {sorted(all_dtypes)}")
        object.__setattr__(self, "format", format)
        object.__setattr__(self, "dtype", dtype)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SparseType is immutable")

    def __reduce__(self) -> tuple:
        return (SparseType, (self.format, self.dtype))

    @property
    def variable_class(self) -> type:
        return SparseVariable

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SparseType) and self.format == other.format
                and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return hash(("sparse", self.format, self.dtype))

    def __call__(self, name: str | None = None) -> "SparseVariable":
        return SparseVariable(self, None, name)

    def __str__(self) -> str:
        return f"Sparse[{self.dtype}, {self.format}]"

    __repr__ = __str__

    def value_error(self, value: Any) -> str | None:
        """Why ``value`` does not fit this type, or None."""
        if not sp.issparse(value) or value.format != self.format:
            return f"expected a scipy.sparse {self.format}_matrix ({self}), got " \
                   f"{type(value).__name__}"
        if value.dtype.name != self.dtype:
            return f"expected dtype {self.dtype} ({self}), got {value.dtype}"
        return None

    def filter(self, value: Any, strict: bool = False,
               allow_downcast: bool | None = None) -> Any:
        """``value`` as a SciPy matrix of this format and dtype, or a TypeError saying why not.

        As Theano: a matrix of the other format, or a dense 2-d array, is converted; a dtype
        change must be safe unless ``allow_downcast``; ``strict`` accepts only the exact type.
        """
        if sp.issparse(value) and value.format == self.format and value.dtype.name == self.dtype:
            return value
        if strict:
            raise TypeError(f"expected a {self.format}_matrix of dtype {self.dtype} (strict), "
                            f"got {type(value).__name__} of dtype {getattr(value, 'dtype', '?')}")
        if not sp.issparse(value):
            value = np.asarray(value)
            if value.ndim != 2 or value.dtype == object:
                raise TypeError(f"{self} needs a sparse matrix or a dense 2-d array, got "
                                f"{type(value).__name__} with {value.ndim} dimensions")
        if not (allow_downcast or np.can_cast(value.dtype, self.dtype, "safe")):
            raise TypeError(f"{self} cannot store a matrix of dtype {value.dtype} without loss "
                            f"of precision (pass allow_input_downcast=True)")
        return FORMATS[self.format](value, dtype=self.dtype)

    @staticmethod
    def cast(var: Variable, dtype: str) -> Variable:
        """``var`` (of a sparse type) converted to ``dtype``."""
        return _ops().cast(var, dtype)

    def make_constant(self, value: Any) -> "SparseConstant":
        """A constant of this type (an update written as a SciPy matrix)."""
        return SparseConstant(self, self.filter(value, allow_downcast=True))


def _ops():
    from symconv.sparse import basic
    return basic


def _more():
    from symconv.sparse import more
    return more


class SparseOperators:
    """Theano's operators of sparse variables (``+ - *``, ``.T``, ``toarray``, ``sum``)."""

    __slots__ = ()

    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().sub(self, other)
    def __rsub__(self, other): return _ops().sub(other, self)
    def __mul__(self, other): return _ops().mul(self, other)
    def __rmul__(self, other): return _ops().mul(other, self)
    def __neg__(self): return _ops().neg(self)

    # comparisons are elementwise (uint8, as Theano); == stays identity (variables are keys)
    def __lt__(self, other): return _more().lt(self, other)
    def __le__(self, other): return _more().le(self, other)
    def __gt__(self, other): return _more().gt(self, other)
    def __ge__(self, other): return _more().ge(self, other)

    @property
    def T(self) -> "SparseVariable":
        return _ops().transpose(self)

    @property
    def format(self) -> str:
        return self.type.format

    def toarray(self) -> Variable:
        return _ops().dense_from_sparse(self)

    def __getitem__(self, index: Any) -> Variable:
        from symconv.sparse.more import get_item
        return get_item(self, index)

    @property
    def shape(self) -> Variable:
        from symconv.ops.elemwise import cast
        return cast(_ops().csm_shape(self), "int64")   # as Theano's x.shape

    @property
    def size(self) -> Variable:
        return _ops().csm_data(self).size

    def astype(self, dtype: str) -> "SparseVariable":
        return _ops().cast(self, dtype)

    def sum(self, axis: int | None = None, sparse_grad: bool = False) -> Variable:
        return _ops().sp_sum(self, axis, sparse_grad)

    def zeros_like(self) -> "SparseVariable":
        return _ops().sp_zeros_like(self)



class SparseVariable(SparseOperators, Variable):
    """A symbolic sparse matrix."""

    __slots__ = ()

    def eval(self, inputs_to_values: dict | None = None) -> Any:
        from symconv.compile import function
        inputs_to_values = inputs_to_values or {}
        return function(list(inputs_to_values), self)(*inputs_to_values.values())

    def __repr__(self) -> str:
        return self.name or (f"{self.owner.op.name}.out" if self.owner
                             else f"SparseVariable{{{self.type.format},{self.type.dtype}}}")

    __str__ = __repr__


class SparseConstant(SparseOperators, Constant):
    """A constant SciPy matrix in a graph (never folded: its value is not an array)."""

    __slots__ = ()

    def __init__(self, type: SparseType, data: Any, name: str | None = None) -> None:
        Variable.__init__(self, type, None, name)
        self.data = data

    def signature(self) -> tuple:
        return (self.type, id(self.data))

    def __repr__(self) -> str:
        t = self.type
        return self.name or f"SparseConstant{{{t.format},{t.dtype},{self.data.nnz} nnz}}"

    __str__ = __repr__


class SparseSharedVariable(SparseOperators, SharedVariable):
    """A shared SciPy matrix: ``symconv.shared(scipy.sparse.csr_matrix(...))``."""

    __slots__ = ()


class SparseContainer:
    """Holds a shared sparse value (always on the host)."""

    __slots__ = ("value", "type", "backend", "allow_downcast")

    def __init__(self, type: SparseType, value: Any, allow_downcast: bool | None) -> None:
        from symconv.backends import get_backend
        self.type, self.value, self.allow_downcast = type, value, allow_downcast
        self.backend = get_backend("cpu")

    def get(self, borrow: bool, return_internal_type: bool) -> Any:
        return self.value if borrow else self.value.copy()

    def set(self, value: Any, borrow: bool, var: SharedVariable) -> None:
        try:
            stored = self.type.filter(value, allow_downcast=self.allow_downcast)
        except TypeError as err:
            raise TypeError(f"set_value of shared variable {var}: {err}") from None
        self.value = stored if borrow or stored is not value else stored.copy()


def sparse_shared(value: Any, name: str | None = None, strict: bool = False,
                  allow_downcast: bool | None = None, borrow: bool = False,
                  **kwargs: Any) -> SparseSharedVariable | None:
    """``shared(value)`` for a SciPy csc/csr matrix (None for anything else)."""
    if not sp.issparse(value) or value.format not in FORMATS:
        return None
    type_ = SparseType(value.format, value.dtype)
    var = SparseSharedVariable(type_, None, name)
    var.container = SparseContainer(type_, value if borrow else value.copy(), allow_downcast)
    var.default_update = None
    return var
