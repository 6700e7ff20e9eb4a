"""The fused elementwise op: a connected group of elementwise nodes as one node.

Representation (what backends bind): the node's single parameter ``program`` is a tuple of
instructions ``(op_name, args, out_dtype, params)``, evaluated in order:

- ``op_name``: the name of an elementwise op (``OPS[op_name].elemwise`` is its ``Scalar``);
- ``args``: a tuple of references, ``('in', k)`` for the fused node's input ``k`` or
  ``('tmp', j)`` for the result of the earlier instruction ``j``;
- ``out_dtype``: the instruction's result dtype, as the op's dtype rule gave it in the
  unfused graph;
- ``params``: the original node's frozen parameters (``(('dtype', 'float32'),)`` for a cast,
  ``()`` otherwise).

The last instruction's result is the node's result. Every input has the output's ndim (the
elementwise nodes' inputs were already padded; dimshuffles stay outside the group), constants
stay inputs (0-d ones become by-value scalars in the CUDA kernel). The node's type is the last
instruction's dtype over the inputs' broadcast shape. Its gradient expands the program back
into ordinary elementwise nodes and differentiates those.
"""
from __future__ import annotations

from typing import Any, Sequence

from symconv.graph import Op, TensorType, Variable, apply, get_op
from symconv.ops.elemwise import broadcast_shape

Ref = tuple[str, int]
Instruction = tuple[str, tuple[Ref, ...], str, tuple]


class FusedProgram(tuple):
    """The ``program`` parameter: a plain tuple of instructions that prints as its expression."""

    __slots__ = ()

    def __repr__(self) -> str:
        texts: list[str] = []
        for name, args, _, params in self:
            parts = [f"in{k}" if kind == "in" else texts[k] for kind, k in args]
            parts += [f"{key}={value}" for key, value in params]
            texts.append(f"{name}({', '.join(parts)})")
        return texts[-1] if texts else "()"

    def __reduce__(self) -> tuple:
        return (FusedProgram, (tuple(self),))


def instruction_types(program: Sequence[Instruction], types: Sequence[TensorType]
                      ) -> list[TensorType]:
    """The type of every instruction's result, given the fused node's input types."""
    out: list[TensorType] = []
    for name, args, _, params in program:
        arg_types = [types[k] if kind == "in" else out[k] for kind, k in args]
        out.append(get_op(name).infer(*arg_types, **dict(params)))
    return out


def _infer(*types: TensorType, program: tuple) -> TensorType:
    return TensorType(program[-1][2], broadcast_shape("fused_elemwise", list(types)))


def _kernel(xp: Any, *arrays: Any, program: tuple) -> Any:
    temps: list[Any] = []
    for name, args, out_dtype, params in program:
        values = [arrays[k] if kind == "in" else temps[k] for kind, k in args]
        result = get_op(name).kernel(xp, *values, **dict(params))
        temps.append(xp.asarray(result).astype(out_dtype, copy=False))
    return temps[-1]


def expand(inputs: Sequence[Variable], program: Sequence[Instruction]) -> Variable:
    """The program as ordinary elementwise nodes over ``inputs``."""
    temps: list[Variable] = []
    for name, args, _, params in program:
        values = [inputs[k] if kind == "in" else temps[k] for kind, k in args]
        temps.append(apply(get_op(name), values, params))
    return temps[-1]


def _expand(*inputs: Variable, program: tuple) -> Variable:
    # the gradient walker differentiates the unfused program
    return expand(inputs, program)


fused_elemwise = Op("fused_elemwise", _infer, _kernel, expand=_expand, fresh=True,
                    doc="Several elementwise ops evaluated as one node (see module docstring).")
