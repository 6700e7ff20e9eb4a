"""The NumPy (CPU) backend: generic kernels, ufuncs bound directly, checked broadcasting."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from symconv.backends.base import Backend, Thunk
from symconv.graph import Node, Op


def broadcast_checks(node: Node) -> list[tuple[int, tuple[int, ...]]]:
    """(input, axes) pairs where a runtime size of 1 would broadcast an axis that the input's
    type does not declare broadcastable: Theano refuses that, and gradients rely on it."""
    if len(node.inputs) < 2:
        return []
    out_shape = node.out.type.shape
    checks = []
    for i, inp in enumerate(node.inputs):
        axes = tuple(a for a, s in enumerate(inp.type.shape) if s is None and out_shape[a] != 1)
        if axes and any(other.type.shape[a] != 1 for other in node.inputs if other is not inp
                        for a in axes):
            checks.append((i, axes))
    return checks


def broadcast_check(node: Node) -> Callable[[Sequence[Any], Sequence[int]], None] | None:
    """``check(arrays, out_shape)``, raising where an input of ``node`` broadcasts an axis its
    type does not declare broadcastable (Theano's check; every backend runs this one), or None
    when the types prove it unnecessary."""
    checks = broadcast_checks(node)
    if not checks:
        return None
    types = [i.type for i in node.inputs]
    name = node.op.name

    def check(arrays: Sequence[Any], out_shape: Sequence[int]) -> None:
        for i, axes in checks:
            got = arrays[i].shape
            for a in axes:
                if got[a] == 1 and out_shape[a] != 1:
                    raise ValueError(_undeclared(name, i, a, got, types[i], out_shape[a]))
    return check


def elementwise_call(xp: Any, op: Op, params: tuple, in_dtypes: Sequence[str], want: str
                     ) -> tuple[Thunk, str]:
    """How to compute ``op`` over operands of ``in_dtypes`` as a result of dtype ``want``,
    found once by probing 0-d operands: ``(fn, how)``, where ``how`` is 'ufunc' (``fn`` is the
    ufunc and gives ``want`` itself), 'dtype' (the ufunc, called with ``dtype=want``) or
    'kernel' (``fn(*arrays)`` returns a ``want`` array). Ufuncs take ``out=``."""
    probe = [xp.ones((), dtype=d) for d in in_dtypes]
    ufunc_name = getattr(op.kernel, "ufunc", None)
    with np.errstate(all="ignore"):   # only the probe's dtype matters (arctanh(1) is inf)
        if ufunc_name:
            fn = getattr(xp, ufunc_name)
            if np.dtype(fn(*probe).dtype).name == want:
                return fn, "ufunc"
            try:
                fn(*probe, dtype=want)
                return fn, "dtype"
            except TypeError:
                pass
        kernel = partial(op.kernel, xp, **dict(params))
        if np.dtype(xp.asarray(kernel(*probe)).dtype).name == want:
            return kernel, "kernel"

    def call(*arrays: Any) -> Any:
        return xp.asarray(kernel(*arrays)).astype(want, copy=False)
    return call, "kernel"


def elemwise_thunk(backend: Backend, node: Node) -> Thunk:
    """An elementwise node as its ufunc (or kernel), with the result dtype forced to the type's
    where NumPy's promotion would differ, and Theano's broadcasting check."""
    want = node.out.type.dtype
    fn, how = elementwise_call(backend.xp, node.op, node.params,
                               [i.dtype for i in node.inputs], want)
    if how == "dtype":
        fn = partial(fn, dtype=want)
    return with_broadcast_check(node, fn, takes_out=how == "ufunc")


def _undeclared(name: str, i: int, axis: int, got: tuple, type_: Any, size: int) -> str:
    return (f"{name}: input {i} has size 1 on axis {axis} (shape {got}) but its type {type_} "
            f"does not declare that axis broadcastable, and the other inputs have size {size} "
            f"there; make it broadcastable with dimshuffle('x', ...) or a shared variable's "
            f"broadcastable=")


def broadcast_error(node: Node, arrays: list[Any]) -> str | None:
    """symconv's message for the shapes of an elementwise node's operands that do not
    broadcast under Theano's rules (None when they do)."""
    shapes = [tuple(getattr(a, "shape", ())) for a in arrays]
    types = [i.type for i in node.inputs]
    if len({len(s) for s in shapes}) != 1:
        return None
    for axis in range(len(shapes[0])):
        sizes = [s[axis] for s in shapes]
        big = {n for n in sizes if n != 1}
        if len(big) > 1:
            listed = ", ".join(f"input {i} {shapes[i]}" for i in range(len(shapes)))
            return (f"{node.op.name}: shapes do not match on axis {axis} (sizes "
                    f"{sorted(big)}): {listed}")
        for i, n in enumerate(sizes):
            if big and n == 1 and not types[i].broadcastable[axis]:
                return _undeclared(node.op.name, i, axis, shapes[i], types[i], big.pop())
    return None


def with_broadcast_check(node: Node, fn: Thunk, takes_out: bool) -> Thunk:
    """``fn`` followed by Theano's broadcast check of ``node`` (``fn`` itself when the types
    prove it unnecessary); ``accepts_out`` tells the executor whether it may pass ``out=``."""
    check = broadcast_check(node)
    if check is None:
        if takes_out and not isinstance(fn, np.ufunc):
            fn.accepts_out = True
        return fn

    def checked(*arrays: Any, out: Any = None) -> Any:
        result = fn(*arrays) if out is None else fn(*arrays, out=out)
        check(arrays, result.shape)
        return result
    checked.accepts_out = takes_out   # the executor may pass a dead buffer (or shared storage)
    return checked


class NumpyBackend(Backend):
    name = "cpu"
    kind = "cpu"
    xp = np
    is_host = True

    def __init__(self) -> None:
        from symconv.backends import numpy_lowerings  # noqa: F401  (registers the overrides)

    def elemwise_thunk(self, node: Node) -> Thunk:
        return elemwise_thunk(self, node)

    def to_device(self, array: np.ndarray) -> np.ndarray:
        return array

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)
