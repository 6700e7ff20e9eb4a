"""``ifelse``: a lazy conditional. Each branch is an inner graph compiled on first use; a call
runs only the branch the condition selects (``T.switch`` computes both, elementwise)."""
from __future__ import annotations

from typing import Any

import numpy as np

from symconv.graph import Constant, Op, TensorType, Variable, as_tensor_variable, graph_inputs


class IfElseSpec:
    """The two branches of one ifelse output, over placeholders for the outer values they read.
    Compared by identity."""

    def __init__(self, inputs: list[Variable], then_out: Variable, else_out: Variable,
                 name: str | None, mode: Any = None) -> None:
        self.inputs, self.then_out, self.else_out, self.name = inputs, then_out, else_out, name
        self.mode = mode     # None: config.mode
        self._programs: dict[Any, tuple] = {}

    def with_mode(self, mode: Any) -> "IfElseSpec":
        return IfElseSpec(self.inputs, self.then_out, self.else_out, self.name, mode)

    def programs(self, backend: Any) -> tuple:
        """(then, else) steps compiled for ``backend`` by the function pipeline, once."""
        found = self._programs.get(backend.name)
        if found is None:
            from symconv.compile import _mode_settings, adopt_mode
            from symconv.executor import Program
            from symconv.rewrite import rewrite_graph
            optimizer, instrument = _mode_settings(self.mode, False)
            found = tuple(Program(self.inputs, [],
                                  adopt_mode(rewrite_graph([out], optimizer), self.mode), [],
                                  backend, instrument)
                          for out in (self.then_out, self.else_out))
            self._programs[backend.name] = found
        return found

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_programs": {}, "mode": getattr(self.mode, "name", self.mode)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"mode": None, **state})

    def __repr__(self) -> str:
        return self.name or "ifelse"


def _infer(cond: TensorType, *inputs: TensorType, spec: IfElseSpec) -> TensorType:
    a, b = spec.then_out.type, spec.else_out.type
    return TensorType(a.dtype, [x if x == y else None for x, y in zip(a.shape, b.shape)])


def _kernel(xp: Any, cond: Any, *arrays: Any, spec: IfElseSpec) -> Any:
    from symconv.backends import get_backend
    from symconv.config import config
    backend = get_backend(config.device if xp is not np else "cpu")
    program = spec.programs(backend)[0 if bool(cond) else 1]
    out = program.run(*arrays)[0][0]
    if getattr(out, "base", None) is not None or any(out is a for a in arrays):
        out = out.copy()      # never return (a view of) an input: the caller may own it
    return xp.asarray(out)


def _grad(g: Variable, out: Variable, cond: Variable, *inputs: Variable,
          spec: IfElseSpec) -> list[Variable | None]:
    from symconv.gradient import grad
    from symconv.graph import clone_replace
    from symconv.tensor.basic import zeros_like
    outer = dict(zip(spec.inputs, inputs))
    wrt = [ph for ph in spec.inputs if ph.dtype.startswith("float")]
    branches = []
    for branch in (spec.then_out, spec.else_out):
        if not branch.dtype.startswith("float"):
            branches.append([None] * len(wrt))
            continue
        gs = grad(None, wrt, known_grads={branch: g}, disconnected_inputs="ignore",
                  return_disconnected="None")
        branches.append([None if x is None else clone_replace([x], outer)[0] for x in gs])
    result: list[Variable | None] = [None]
    by_ph = dict(zip(wrt, zip(*branches))) if wrt else {}
    for ph, x in zip(spec.inputs, inputs):
        pair = by_ph.get(ph)
        if pair is None or pair == (None, None):
            result.append(None)
            continue
        a, b = (zeros_like(x) if v is None else v for v in pair)
        result.append(ifelse(cond, a, b))
    return result


ifelse_op = Op("ifelse", _infer, _kernel, _grad,
               doc="Lazy conditional: the result of the branch the scalar condition selects.")
ifelse_op.foldable = False   # folding would evaluate the branch the condition does not pick
ifelse_op.inner_outputs = lambda node: [node.kw["spec"].then_out, node.kw["spec"].else_out]
# the branches are compiled in the mode of the function that runs them
ifelse_op.adopt_mode = lambda node, mode: (("spec", node.kw["spec"].with_mode(mode)),)


def _one(cond: Variable, then_branch: Any, else_branch: Any, name: str | None) -> Variable:
    from symconv.scan_module.builder import _close_over
    then_v, else_v = as_tensor_variable(then_branch), as_tensor_variable(else_branch)
    if then_v.dtype != else_v.dtype or then_v.ndim != else_v.ndim:
        raise TypeError(f"ifelse: both branches must have the same dtype and number of "
                        f"dimensions; got {then_v.type} and {else_v.type} (cast one of them)")
    leaves = [v for v in graph_inputs([then_v, else_v]) if not isinstance(v, Constant)]
    # every leaf (input, shared variable) enters as an input; the branches stay inner graphs
    placeholders = {id(v): Variable(v.type, None, v.name) for v in leaves}
    (then_in, else_in), consts, const_phs = _close_over([then_v, else_v], placeholders, [])
    spec = IfElseSpec([placeholders[id(v)] for v in leaves] + const_phs, then_in, else_in,
                      name)
    return ifelse_op(cond, *leaves, *consts, spec=spec)


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """``then_branch`` if the scalar ``condition`` is true, else ``else_branch``; only the
    selected branch is computed. Branches may be lists of variables (one result each)."""
    cond = as_tensor_variable(condition)
    if cond.ndim != 0:
        raise TypeError(f"ifelse: the condition must be a scalar, got {cond} of type "
                        f"{cond.type} (use T.switch for an elementwise choice)")
    if isinstance(then_branch, (list, tuple)):
        if not isinstance(else_branch, (list, tuple)) or len(then_branch) != len(else_branch):
            raise ValueError("ifelse: then_branch and else_branch must have the same length")
        return [_one(cond, a, b, name) for a, b in zip(then_branch, else_branch)]
    return _one(cond, then_branch, else_branch, name)


__all__ = ["ifelse"]
