"""Specialize pass: max pooling whose gradient is taken records its switches on the CPU.

    y = pool_2d(x), gx = max_pool_2d_grad(x, y, gy)
      -> s = max_pool_2d_switches(x), y = max_pool_2d_switches_out(s),
         gx = max_pool_2d_grad_switches(s, gy)

The forward then writes where each window's maximum is, and the backward scatters gy there
instead of comparing every input with its window's maximum again (Theano's ties rule kept:
see symconv.ops.pool_switches). Only for the NumPy backend: the generated-CUDA backend has
its own one-thread-per-element pool gradient.
"""
from __future__ import annotations

from symconv.graph import Node, Variable, apply, rebuild, toposort_vars
from symconv.ops.pool import max_pool_2d_grad, pool_2d
from symconv.ops.pool_switches import (max_pool_2d_grad_switches, max_pool_2d_switches,
                                       max_pool_2d_switches_out)
from symconv.rewrite import register_pass


def _pairs(outputs: list[Variable]) -> set[int]:
    """ids of the pool_2d results that a max_pool_2d_grad of the same x and parameters reads."""
    found = set()
    for var in toposort_vars(outputs):
        node = var.owner
        if node is None or node.op is not max_pool_2d_grad:
            continue
        x, y, gy = node.inputs
        if (y.owner is not None and y.owner.op is pool_2d and y.owner.inputs[0] is x
                and y.owner.params == node.params and x.dtype in ("float32", "float64")
                and gy.dtype == x.dtype):
            found.add(id(y))
    return found


@register_pass("specialize")
def max_pool_switches(outputs: list[Variable]) -> list[Variable]:
    """pool_2d + max_pool_2d_grad pairs -> the switches-recording forward + scatter backward."""
    from symconv.config import config
    if config.device != "cpu":
        return outputs
    pooled = _pairs(outputs)
    if not pooled:
        return outputs
    switches: dict[int, Variable] = {}   # id(original pool_2d result) -> its bundle

    def rule(node: Node, inputs: list[Variable]) -> Variable | None:
        if node.op is pool_2d and id(node.out) in pooled:
            s = apply(max_pool_2d_switches, inputs, node.params)
            switches[id(node.out)] = s
            return apply(max_pool_2d_switches_out, [s], ())
        if node.op is max_pool_2d_grad and id(node.inputs[1]) in switches \
                and node.inputs[0] is node.inputs[1].owner.inputs[0]:
            return apply(max_pool_2d_grad_switches, [switches[id(node.inputs[1])], inputs[2]],
                         ())
        return None
    return rebuild(outputs, rule)
