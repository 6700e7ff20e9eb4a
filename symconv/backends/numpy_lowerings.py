"""NumPy-specific lowerings: ops whose generic ``xp`` kernel is not the fastest form on the CPU."""
from __future__ import annotations

from typing import Any, Callable

from symconv.backends.base import Backend, Lowering, Thunk, override
from symconv.graph import Node, Op


def lowering(*ops: Op | str) -> Callable[[Lowering], Lowering]:
    """Register a NumPy-backend override of ``ops`` (see backends.base.override)."""
    return override("cpu", *ops)


@lowering("subtensor")
def _subtensor(backend: Backend, node: Node) -> Thunk:
    from symconv.ops.index import build_index
    spec = node.kw["spec"]
    if len(node.inputs) == 1:
        index = build_index(spec, ())   # fully static: build the index tuple once

        def static(x: Any) -> Any:
            return x[index]
        return static
    return backend.generic_thunk(node)


@lowering("fused_elemwise")
def _fused_elemwise(backend: Backend, node: Node) -> Thunk:
    from symconv.backends.numpy_fused import fused_lowering
    return fused_lowering(backend, node)


from symconv.backends import numpy_cnn  # noqa: E402,F401  (registers the conv and pool lowerings)
