"""Indexing: x[index] (basic and advanced) and set_subtensor / inc_subtensor.

An index is a ``spec``: one entry per indexing element, as a hashable tuple:
("int", s), ("slice", s, s, s), ("array", s), ("newaxis",), where each ``s`` is None,
a Python int (static) or ("v", k): the k-th symbolic index input of the node.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable, is_literal

# ---- building a spec from a Python index --------------------------------------------------


def parse_index(x: Variable, index: Any) -> tuple[tuple, list[Variable]]:
    """A Python index (ints, slices, None, Ellipsis, variables, arrays) as (spec, inputs)."""
    if not isinstance(index, tuple):
        index = (index,)
    inputs: list[Variable] = []

    def source(value: Any, what: str) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        var = as_tensor_variable(value)
        if var.ndim != 0 or var.dtype[0] not in "iu":
            raise TypeError(f"{what} must be an integer scalar, got {var} of type {var.type}")
        if isinstance(var, Constant):
            return int(var.data)
        inputs.append(var)
        return ("v", len(inputs) - 1)

    index = _expand_masks(index)
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single Ellipsis")
    spec: list[tuple] = []
    for item in index:
        if item is Ellipsis:
            spec.extend([("slice", None, None, None)] * (x.ndim - n_real))
        elif item is None:
            spec.append(("newaxis",))
        elif isinstance(item, slice):
            spec.append(("slice", source(item.start, "a slice start"),
                         source(item.stop, "a slice stop"), source(item.step, "a slice step")))
        elif is_literal(item) or isinstance(item, np.integer) or (
                isinstance(item, Variable) and item.ndim == 0):
            spec.append(("int", source(item, "an integer index")))
        else:
            var = as_tensor_variable(item)
            if var.dtype == "bool":
                raise TypeError(f"indexing {x} with a boolean mask {var} is not supported; "
                                f"use T.switch, or index with T.nonzero(mask)")
            if var.dtype[0] not in "iu":
                raise TypeError(f"index arrays must be integers, got {var} of type {var.type}")
            inputs.append(var)
            spec.append(("array", ("v", len(inputs) - 1)))
    if sum(1 for e in spec if e[0] != "newaxis") > x.ndim:
        raise IndexError(f"too many indices for {x} ({x.type}): {len(index)} given")
    return tuple(spec), inputs

def _expand_masks(index: tuple) -> tuple:
    """A boolean mask of k dimensions becomes its k nonzero() index vectors (NumPy's rule)."""
    if not any(isinstance(i, Variable) and i.dtype == "bool" or
               isinstance(i, np.ndarray) and i.dtype == bool for i in index):
        return index
    from symconv.ops.extra import nonzero_op
    out: list = []
    for item in index:
        if isinstance(item, np.ndarray) and item.dtype == bool:
            out.extend(np.nonzero(item))
        elif isinstance(item, Variable) and item.dtype == "bool":
            rows = nonzero_op(item)
            out.extend(rows[k] for k in range(item.ndim))
        else:
            out.append(item)
    return tuple(out)

# ---- type inference -----------------------------------------------------------------------


def _slice_len(size: int | None, entry: tuple) -> int | None:
    _, start, stop, step = entry
    if size is None or any(isinstance(s, tuple) for s in (start, stop, step)):
        return None
    return len(range(*slice(start, stop, step).indices(size)))


def index_type(t: TensorType, spec: tuple, idx_types: Sequence[TensorType]) -> TensorType:
    """The type of ``x[index]`` following NumPy's basic and advanced indexing rules."""
    def ref(s: Any) -> TensorType:
        return idx_types[s[1]]

    has_array = any(e[0] == "array" for e in spec)
    out: list[int | None] = []
    adv_shapes: list[tuple] = []
    adv_positions: list[int] = []
    axis = 0
    for pos, entry in enumerate(spec):
        kind = entry[0]
        if kind == "newaxis":
            out.append(1)
            continue
        size = t.shape[axis]
        if kind == "slice":
            out.append(_slice_len(size, entry))
        elif kind == "int":
            if isinstance(entry[1], int) and size is not None and not -size <= entry[1] < size:
                raise IndexError(f"index {entry[1]} is out of bounds for axis {axis} "
                                 f"with size {size}")
            if has_array:
                adv_shapes.append(())
                adv_positions.append(len(out))
        else:
            adv_shapes.append(ref(entry[1]).shape)
            adv_positions.append(len(out))
        axis += 1
    out.extend(t.shape[axis:])
    if has_array:
        ndim = max(len(s) for s in adv_shapes)
        padded = [(1,) * (ndim - len(s)) + tuple(s) for s in adv_shapes]
        bshape = []
        for dims in zip(*padded):
            known = {d for d in dims if d is not None} - {1}
            bshape.append(known.pop() if len(known) == 1 else (1 if not known and None not in
                                                                dims else None))
        entries = [i for i, e in enumerate(spec) if e[0] in ("array", "int")]
        contiguous = entries == list(range(entries[0], entries[-1] + 1))
        insert_at = adv_positions[0] if contiguous else 0
        out[insert_at:insert_at] = bshape
    return TensorType(t.dtype, out)

# ---- kernels ------------------------------------------------------------------------------


def build_index(spec: tuple, values: Sequence[Any]) -> tuple:
    """The concrete index tuple for NumPy/CuPy from a spec and its index inputs' values."""
    def val(s: Any) -> Any:
        return int(values[s[1]]) if isinstance(s, tuple) else s

    out: list[Any] = []
    for entry in spec:
        kind = entry[0]
        if kind == "slice":
            out.append(slice(val(entry[1]), val(entry[2]), val(entry[3])))
        elif kind == "int":
            out.append(val(entry[1]))
        elif kind == "array":
            out.append(values[entry[1][1]])
        else:
            out.append(None)
    return tuple(out)


def _subtensor_infer(x: TensorType, *idx: TensorType, spec: tuple) -> TensorType:
    return index_type(x, spec, idx)


def _subtensor_kernel(xp: Any, x: Any, *idx: Any, spec: tuple) -> Any:
    return x[build_index(spec, idx)]


def _subtensor_grad(g: Variable, out: Variable, x: Variable, *idx: Variable, spec: tuple
                    ) -> list:
    from symconv.ops.shape import filled_like
    zeros = filled_like(x, dtype=g.dtype if g.dtype != x.dtype else x.dtype, value=0)
    return [inc_subtensor_op(zeros, g, *idx, spec=spec, set_instead_of_inc=False)] + \
        [None] * len(idx)


subtensor_op = Op("subtensor", _subtensor_infer, _subtensor_kernel, _subtensor_grad, view=True)


def _inc_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    from symconv.ops.elemwise import cast
    x = as_tensor_variable(inputs[0])
    y = inputs[1]
    y = as_tensor_variable(y) if not is_literal(y) else as_tensor_variable(
        np.asarray(y, dtype=x.dtype))
    if not np.can_cast(y.dtype, x.dtype, casting="same_kind"):
        raise TypeError(f"inc_subtensor/set_subtensor: cannot store {y} ({y.type}) into {x} "
                        f"({x.type}) without changing its kind; cast it first")
    y = cast(y, x.dtype)
    idx = [as_tensor_variable(i) for i in inputs[2:]]
    sub = index_type(x.type, params["spec"], [i.type for i in idx])
    if y.ndim > sub.ndim:
        raise ValueError(f"inc_subtensor/set_subtensor: value {y} has {y.ndim} dimensions, "
                         f"more than the {sub.ndim} of the indexed part of {x}")
    for a, b in zip(reversed(y.type.shape), reversed(sub.shape)):
        if a is not None and b is not None and a != b and a != 1:
            raise ValueError(f"inc_subtensor/set_subtensor: value of shape {y.type.shape} does "
                             f"not fit the indexed part of shape {sub.shape}")
    return [x, y] + idx, params


def _inc_infer(x: TensorType, y: TensorType, *idx: TensorType, spec: tuple,
               set_instead_of_inc: bool) -> TensorType:
    return x


def _inc_kernel(xp: Any, x: Any, y: Any, *idx: Any, spec: tuple, set_instead_of_inc: bool
                ) -> Any:
    out = x.copy()
    index = build_index(spec, idx)
    if set_instead_of_inc:
        out[index] = y
    elif any(e[0] == "array" for e in spec):
        if y.ndim:   # add.at mis-broadcasts a value of lower rank than the indexed part
            y = xp.broadcast_to(y, xp.broadcast_to(xp.zeros((), bool), x.shape)[index].shape)
        xp.add.at(out, index, y)  # repeated indices accumulate (Theano's AdvancedIncSubtensor)
    else:
        out[index] += y
    return out


def _inc_grad(g: Variable, out: Variable, x: Variable, y: Variable, *idx: Variable, spec: tuple,
              set_instead_of_inc: bool) -> list:
    gy = subtensor_op(g, *idx, spec=spec)
    if set_instead_of_inc:
        from symconv.ops.shape import filled_like
        gx = inc_subtensor_op(g, filled_like(y, dtype=g.dtype, value=0), *idx, spec=spec,
                              set_instead_of_inc=True)
    else:
        gx = g
    return [gx, gy] + [None] * len(idx)


inc_subtensor_op = Op("inc_subtensor", _inc_infer, _inc_kernel, _inc_grad, prepare=_inc_prepare)
