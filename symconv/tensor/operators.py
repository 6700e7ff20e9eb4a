"""Python operators and methods of symbolic variables (``x + y``, ``x[i]``, ``x.sum()``,
``x.eval()``), added to the IR's bare ``Variable`` by the tensor layer (Theano's split)."""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv import graph
from symconv.compile import function


def _T():  # the tensor API, imported late: this module is imported by symconv.tensor itself
    import symconv.tensor as T
    return T


class TensorOperators:
    """Mixin giving Variable Theano's operator and method surface."""

    __slots__ = ()
    # NumPy defers to the variable's reflected operators: np.float32(2) * x is x.__rmul__
    __array_ufunc__ = None

    # arithmetic
    def __add__(self, other): return _T().add(self, other)
    def __radd__(self, other): return _T().add(other, self)
    def __sub__(self, other): return _T().sub(self, other)
    def __rsub__(self, other): return _T().sub(other, self)
    def __mul__(self, other): return _T().mul(self, other)
    def __rmul__(self, other): return _T().mul(other, self)
    def __truediv__(self, other): return _T().true_div(self, other)
    def __rtruediv__(self, other): return _T().true_div(other, self)
    def __floordiv__(self, other): return _T().int_div(self, other)
    def __rfloordiv__(self, other): return _T().int_div(other, self)
    def __mod__(self, other): return _T().mod(self, other)
    def __rmod__(self, other): return _T().mod(other, self)
    def __pow__(self, other): return _T().pow(self, other)
    def __rpow__(self, other): return _T().pow(other, self)
    def __neg__(self): return _T().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _T().abs(self)
    def __invert__(self): return _T().invert(self)
    def __and__(self, other): return _T().and_(self, other)
    def __rand__(self, other): return _T().and_(other, self)
    def __or__(self, other): return _T().or_(self, other)
    def __ror__(self, other): return _T().or_(other, self)
    def __xor__(self, other): return _T().xor(self, other)
    def __rxor__(self, other): return _T().xor(other, self)

    # comparisons are elementwise; == stays identity (variables are dict keys), as in Theano
    def __lt__(self, other): return _T().lt(self, other)
    def __le__(self, other): return _T().le(self, other)
    def __gt__(self, other): return _T().gt(self, other)
    def __ge__(self, other): return _T().ge(self, other)

    def __getitem__(self, index: Any): return _T().subtensor_of(self, index)

    def __iter__(self):
        # a vector of static length unpacks (a, b = x.shape[:2]), as Theano's
        length = self.type.shape[0] if self.ndim else None
        if length is None:
            raise TypeError("a symbolic variable cannot be iterated unless its length is known "
                            "when the graph is built; index it (x[i]) instead")
        return iter([self[i] for i in range(length)])

    def __len__(self):
        raise TypeError("a symbolic variable has no len(); use x.shape[0]")

    # properties
    @property
    def shape(self): return _T().shape(self)
    @property
    def T(self): return _T().transpose(self)
    @property
    def size(self): return _T().prod(_T().shape(self))

    # methods (Theano's names and arguments)
    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().sum(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().prod(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _T().mean(self, axis=axis, dtype=dtype, keepdims=keepdims, acc_dtype=acc_dtype)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _T().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _T().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False): return _T().max(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _T().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _T().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _T().argmin(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False): return _T().any(self, axis=axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _T().all(self, axis=axis, keepdims=keepdims)

    def reshape(self, shape, *more, ndim=None):
        if more:
            shape = (shape,) + more
        return _T().reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1, outdim=None): return _T().flatten(self, ndim=ndim, outdim=outdim)
    def dimshuffle(self, *pattern): return _T().dimshuffle(self, *pattern)
    def transpose(self, *axes): return _T().transpose(self, *axes)
    def astype(self, dtype): return _T().cast(self, dtype)
    def dot(self, other): return _T().dot(self, other)
    def clip(self, a_min, a_max): return _T().clip(self, a_min, a_max)
    def norm(self, L, axis=None): return _T().norm(self, L, axis=axis)
    def nonzero_values(self): return _T().nonzero_values(self)
    def copy(self, name=None): return _T().tensor_copy(self, name=name)

    # more of Theano's methods (T.extra_ops and friends)
    def cumsum(self, axis=None): return _T().cumsum(self, axis)
    def cumprod(self, axis=None): return _T().cumprod(self, axis)
    def repeat(self, repeats, axis=None): return _T().repeat(self, repeats, axis)
    def ptp(self, axis=None): return _T().ptp(self, axis)
    def squeeze(self): return _T().squeeze(self)
    def swapaxes(self, axis1, axis2): return _T().swapaxes(self, axis1, axis2)
    def choose(self, choices, out=None, mode="raise"): return _T().choose(self, choices, out, mode)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _T().diagonal(self, offset, axis1, axis2)
    def nonzero(self, return_matrix=False): return _T().nonzero(self, return_matrix)
    def sort(self, axis=-1, kind="quicksort", order=None): return _T().sort(self, axis, kind, order)
    def argsort(self, axis=-1, kind="quicksort", order=None):
        return _T().argsort(self, axis, kind, order)
    def round(self, mode="half_to_even"): return _T().round(self, mode)
    def compress(self, a, axis=None): return _T().compress(a, self, axis)
    def zeros_like(self, dtype=None): return _T().zeros_like(self, dtype)
    def ones_like(self, dtype=None): return _T().ones_like(self, dtype)
    def fill(self, value): return _T().fill(self, value)

    def __array__(self, *args, **kwargs):
        raise TypeError("a symbolic variable has no value; compile a function or call .eval()")

    def eval(self, inputs_to_values: dict | None = None) -> np.ndarray:
        """Compile and run this variable's graph once (cached per set of inputs)."""
        inputs_to_values = inputs_to_values or {}
        keys = tuple(inputs_to_values)
        cache = getattr(self, "_eval_cache", None)
        if cache is None or cache[0] != keys:
            fn = function(list(keys), self, on_unused_input="ignore")
            self._eval_cache = (keys, fn)
        return self._eval_cache[1](*[inputs_to_values[k] for k in keys])


def install() -> None:
    """Give graph.Variable (and so every constant and shared variable) the tensor surface, and
    let graph.as_tensor_variable build vectors from lists that mix variables and numbers."""
    for name, value in vars(TensorOperators).items():
        if name not in ("__module__", "__qualname__", "__doc__", "__slots__", "__dict__",
                        "__weakref__"):
            setattr(graph.Variable, name, value)
    graph.register_sequence_builder(lambda items: _T().stack(items))


install()
