"""The scalar program of elementwise code, and the fused op: elementwise nodes as one node.

A `ScalarProgram` is what every elementwise code generator consumes (the NumPy generator in
symconv.backends.numpy_fused, the CUDA one in symconv.backends.cuda.elemwise) and what the NaN
guard replays: the dtype of each input slot, then straight-line `Step`\\ s, each applying one
elementwise op to earlier slots (inputs are slots ``0..nin-1``, step ``j``'s result is slot
``nin + j``). The last step's result is the program's result. A single elementwise node is a
one-step program (`ScalarProgram.of_node`); a fused node carries its program as its only
parameter ``program``.

Every input of a fused node has the output's ndim (the elementwise nodes' inputs were already
padded; dimshuffles stay outside the group), constants stay inputs (0-d ones become by-value
scalars in the CUDA kernel). The node's type is the last step's dtype over the inputs'
broadcast shape. Its gradient expands the program back into ordinary elementwise nodes and
differentiates those.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple, Sequence

from symconv.graph import Node, Op, TensorType, Variable, apply, get_op
from symconv.ops.elemwise import broadcast_shape


class Step(NamedTuple):
    """One scalar operation of a program."""

    op: str                  # an elementwise op's name (``get_op(op).elemwise`` is its Scalar)
    args: tuple[int, ...]    # the slots it reads
    dtype: str               # its result's dtype, as the op's dtype rule gave it in the graph
    params: tuple = ()       # the original node's frozen parameters (a cast's target dtype)


@dataclass(frozen=True)
class ScalarProgram:
    """Input dtypes and steps of a straight-line elementwise computation (see module doc)."""

    inputs: tuple[str, ...]
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a scalar program needs at least one step")
        for j, step in enumerate(self.steps):
            if any(not 0 <= a < len(self.inputs) + j for a in step.args):
                raise ValueError(f"step {j} ({step.op}) reads slots {step.args}, but only "
                                 f"slots 0..{len(self.inputs) + j - 1} exist before it")

    @classmethod
    def of_node(cls, node: Node) -> ScalarProgram:
        """The one-step program of an elementwise node."""
        nin = len(node.inputs)
        step = Step(node.op.name, tuple(range(nin)), node.out.dtype, node.params)
        return cls(tuple(i.dtype for i in node.inputs), (step,))

    @property
    def dtype(self) -> str:
        """The result's dtype."""
        return self.steps[-1].dtype

    def dtype_of(self, slot: int) -> str:
        n = len(self.inputs)
        return self.inputs[slot] if slot < n else self.steps[slot - n].dtype

    def last_uses(self) -> dict[int, int]:
        """Step slot -> index of the last step that reads it."""
        n = len(self.inputs)
        return {a: j for j, step in enumerate(self.steps) for a in step.args if a >= n}

    def types(self, input_types: Sequence[TensorType]) -> list[TensorType]:
        """The type of every step's result, given the input types."""
        slots = list(input_types)
        for step in self.steps:
            slots.append(get_op(step.op).infer(*[slots[a] for a in step.args],
                                               **dict(step.params)))
        return slots[len(input_types):]

    def values(self, xp: Any, arrays: Sequence[Any]) -> Iterator[Any]:
        """Each step's result in turn (each cast to its step's dtype): the interpreter."""
        slots = list(arrays)
        for step in self.steps:
            result = get_op(step.op).kernel(xp, *[slots[a] for a in step.args],
                                            **dict(step.params))
            slots.append(xp.asarray(result).astype(step.dtype, copy=False))
            yield slots[-1]

    def first_nonfinite(self, xp: Any, arrays: Sequence[Any]) -> ScalarProgram | None:
        """The program up to the first step whose result has a NaN or an Inf (for NanGuard)."""
        for j, value in enumerate(self.values(xp, arrays)):
            if value.dtype.kind in "fc" and not bool(xp.isfinite(value).all()):
                return ScalarProgram(self.inputs, self.steps[:j + 1])
        return None

    def expand(self, inputs: Sequence[Variable]) -> Variable:
        """The program as ordinary elementwise nodes over ``inputs``."""
        slots = list(inputs)
        for step in self.steps:
            slots.append(apply(get_op(step.op), [slots[a] for a in step.args], step.params))
        return slots[-1]

    def __repr__(self) -> str:
        texts = [f"in{k}" for k in range(len(self.inputs))]
        for step in self.steps:
            parts = [texts[a] for a in step.args]
            parts += [f"{key}={value}" for key, value in step.params]
            texts.append(f"{step.op}({', '.join(parts)})")
        return texts[-1]


def _infer(*types: TensorType, program: ScalarProgram) -> TensorType:
    got = tuple(t.dtype for t in types)
    if got != program.inputs:
        raise TypeError(f"fused_elemwise: the program {program!r} reads inputs of dtypes "
                        f"{program.inputs}, got {got}")
    return TensorType(program.dtype, broadcast_shape("fused_elemwise", list(types)))


def _kernel(xp: Any, *arrays: Any, program: ScalarProgram) -> Any:
    for value in program.values(xp, arrays):
        pass
    return value


def _expand(*inputs: Variable, program: ScalarProgram) -> Variable:
    # the gradient walker differentiates the unfused program
    return program.expand(inputs)


fused_elemwise = Op("fused_elemwise", _infer, _kernel, expand=_expand, fresh=True,
                    doc="Several elementwise ops evaluated as one node (see module docstring).")


def program_of(node: Node) -> ScalarProgram:
    """The scalar program of a fused node, or the one-step program of an elementwise node."""
    return node.kw["program"] if node.op is fused_elemwise else ScalarProgram.of_node(node)
