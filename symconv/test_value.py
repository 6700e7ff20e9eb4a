"""Theano's test values: with ``config.compute_test_value`` on, every new node is run on its
inputs' ``tag.test_value`` when it is built, so a shape error is raised at the line that builds
the bad node, not when the function runs."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from symconv import graph

def test_value_of(var: Any) -> Any:
    """The test value of ``var`` (constants and shared variables have their own), or None."""
    from symconv.graph import Constant, SharedVariable, _TAGS
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.get_value(borrow=True)
    tag = _TAGS.get(var)
    return getattr(tag, "test_value", None) if tag is not None else None


def compute_test_value(node: Any, mode: str) -> None:
    """Run ``node`` on its inputs' test values and store the result on its output's tag."""
    values = []
    for var in node.inputs:
        value = test_value_of(var)
        if value is None:
            message = (f"{node.op.name}: input {var} ({var.type}) has no test value; set "
                       f"{var.name or 'it'}.tag.test_value or compute_test_value='off'")
            if mode == "raise":
                raise ValueError(message)
            if mode == "warn":
                warnings.warn(message, stacklevel=4)
            return
        # a sparse (or generic) test value is used as it is
        values.append(np.asarray(value, dtype=var.dtype)
                      if isinstance(var.type, graph.TensorType) else value)
    from symconv.backends import get_backend
    try:
        result = get_backend("cpu").thunk(node)(*values)
    except Exception as err:
        shapes = ", ".join(str(tuple(v.shape)) for v in values)
        message = f"{err} (computing the test value of {node.op.name} on input shapes {shapes})"
        try:
            again = type(err)(message)
        except Exception:
            again = ValueError(message)
        raise again from err
    node.out.tag.test_value = (np.asarray(result) if isinstance(node.out.type, graph.TensorType)
                               else result)


graph._node_hooks.append(compute_test_value)   # the IR calls it on every new node
