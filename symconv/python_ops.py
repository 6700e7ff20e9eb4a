"""``as_op``: a Python function on NumPy arrays used as an op (``theano.compile.ops.as_op``).

The function runs on the host: on the CUDA backend its inputs are copied to the host and its
result back to the device. As in Theano it has no gradient, and its result must be a new array
(not a view of, nor an in-place change to, an input). A function with several ``otypes``
returns a tuple; each output is its own node, so the function runs once per output used.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from symconv.backends.base import override
from symconv.graph import Op, TensorType, Variable, as_tensor_variable
from symconv.values import filter_value

_ids = itertools.count()


def _fits(t: TensorType, want: TensorType) -> bool:
    return t.dtype == want.dtype and t.ndim == want.ndim and all(
        not b or a for a, b in zip(t.broadcastable, want.broadcastable))


class FromFunctionOp:
    """The callable ``as_op`` returns: applied to variables of ``itypes`` it gives variables
    of ``otypes`` computed by ``fn``."""

    def __init__(self, fn: Callable, itypes: Sequence[TensorType],
                 otypes: Sequence[TensorType], infer_shape: Callable | None) -> None:
        self.fn, self.itypes, self.otypes = fn, list(itypes), list(otypes)
        self.infer_shape = infer_shape    # accepted; shapes come from running the function
        self.__name__ = getattr(fn, "__name__", "as_op")
        self.__doc__ = fn.__doc__
        tag = f"as_op_{self.__name__}_{next(_ids)}"
        self.ops = [self._op(f"{tag}_{k}" if len(self.otypes) > 1 else tag, k)
                    for k in range(len(self.otypes))]

    def _op(self, name: str, k: int) -> Op:
        fn, itypes, otype, single = self.fn, self.itypes, self.otypes[k], len(self.otypes) == 1

        def infer(*types: TensorType) -> TensorType:
            if len(types) != len(itypes):
                raise TypeError(f"{self.__name__}: expected {len(itypes)} inputs, got "
                                f"{len(types)}")
            for i, (t, want) in enumerate(zip(types, itypes)):
                if not _fits(t, want):
                    raise TypeError(f"{self.__name__}: input {i} must be a {want}, got {t}")
            return TensorType(otype.dtype, tuple(1 if b else None for b in otype.broadcastable))

        def kernel(xp: Any, *arrays: Any) -> Any:
            result = fn(*arrays)
            if not single:
                result = result[k]
            try:
                return filter_value(otype, result, allow_downcast=False)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{self.__name__} returned a value that is not a {otype}: "
                                f"{err}") from None

        def no_grad(g: Variable, out: Variable, *inputs: Variable) -> list:
            # raised, not zeros: a silent zero gradient through user code would mislead
            raise NotImplementedError(f"{self.__name__} (an as_op function, used at "
                                      f"{out.trace}) has no gradient, as in Theano")

        op = Op(name, infer, kernel, no_grad,
                doc=f"The Python function {self.__name__} (as_op), output {k}.")
        op.foldable = False   # a user function may have side effects; never run at build time
        op.user_defined = True   # made by user code (the op registry's meta-tests skip it)

        @override("cuda", op)
        def _on_host(backend: Any, node: Any) -> Callable:
            def run(*arrays: Any) -> Any:
                host = [backend.to_host(a) for a in arrays]
                return backend.to_device(np.ascontiguousarray(kernel(np, *host)))
            return run
        return op

    def __call__(self, *inputs: Any) -> Variable | list[Variable]:
        inputs = [as_tensor_variable(x) for x in inputs]
        outs = [op(*inputs) for op in self.ops]
        return outs[0] if len(outs) == 1 else outs

    def __repr__(self) -> str:
        return f"as_op({self.__name__})"


def as_op(itypes: Sequence[TensorType], otypes: Sequence[TensorType],
          infer_shape: Callable | None = None) -> Callable[[Callable], FromFunctionOp]:
    """Decorator making a function of NumPy arrays an op taking variables of ``itypes`` and
    returning variables of ``otypes`` (Theano's ``theano.compile.ops.as_op``)."""
    itypes = list(itypes) if isinstance(itypes, (list, tuple)) else [itypes]
    otypes = list(otypes) if isinstance(otypes, (list, tuple)) else [otypes]
    for t in itypes + otypes:
        if not isinstance(t, TensorType):
            raise TypeError(f"as_op: itypes and otypes must be tensor types (T.dmatrix, ...), "
                            f"got {t!r}")

    def wrap(fn: Callable) -> FromFunctionOp:
        return FromFunctionOp(fn, itypes, otypes, infer_shape)
    return wrap
