"""``OpFromGraph``: a graph over placeholder inputs used like an op, optionally with its own
gradient (Theano's ``theano.compile.builders.OpFromGraph``).

A call puts a copy of the graph over the arguments into the caller's graph (Theano's
``inline=True``; symconv always inlines, so the rewrites see through it). With gradient
overrides, each output passes through a ``custom_grad`` node: the identity on its value, whose
gradient rule calls the override instead of differentiating the copied graph; the node is
dropped in the specialize phase, after every gradient has been taken."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from symconv.graph import (Op, SharedVariable, TensorType, Variable, as_tensor_variable,
                           clone_replace, constant, graph_inputs, is_literal)
from symconv.rewrite import register

_DEFAULT = "default"


class OpFromGraph:
    """An op computing ``outputs`` from ``inputs``; call it on variables of the inputs' types.

    Parameters
    ----------
    inputs, outputs : lists of variables (outputs computed from inputs, constants and shared
        variables).
    inline : accepted for Theano's signature; symconv always inlines the graph.
    grad_overrides : 'default', a callable ``(inputs, output_grads) -> list of input grads``,
        another OpFromGraph taking ``inputs + output_grads``, or a list with one such entry (or
        'default') per input. With shared variables in the graph, a callable returns their
        gradients after the inputs' (Theano's rule); returning only the inputs' gives the
        shared variables their default gradient.
    lop_overrides : as grad_overrides but called ``(inputs, outputs, output_grads)``;
        exclusive with grad_overrides.
    rop_overrides : only 'default' (the R-operator differentiates the gradient).
    connection_pattern, name, **kwargs : accepted for Theano's signature (kwargs of
        ``function`` are meaningless when the graph is inlined); updates and givens are not.
    """

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                 inline: bool = False, lop_overrides: Any = _DEFAULT,
                 grad_overrides: Any = _DEFAULT, rop_overrides: Any = _DEFAULT,
                 connection_pattern: Any = None, name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(outputs, list):
            raise TypeError(f"OpFromGraph: outputs must be a list, got {type(outputs).__name__}")
        for var in list(inputs) + list(outputs):
            if not isinstance(var, Variable):
                raise TypeError(f"OpFromGraph: inputs and outputs must be variables, got {var!r}")
        if "updates" in kwargs or "givens" in kwargs:
            raise TypeError("OpFromGraph: updates and givens are not allowed here")
        if lop_overrides is not _DEFAULT and lop_overrides != _DEFAULT and \
                not (isinstance(grad_overrides, str) and grad_overrides == _DEFAULT):
            raise ValueError("lop_overrides and grad_overrides are mutually exclusive")
        if not (isinstance(rop_overrides, str) and rop_overrides == _DEFAULT):
            raise NotImplementedError("OpFromGraph: rop_overrides is not supported; symconv's "
                                      "R-operator differentiates the gradient (override that)")
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.shared_inputs = [v for v in graph_inputs(self.outputs)
                              if isinstance(v, SharedVariable)
                              and not any(v is i for i in self.inputs)]
        self.is_inline, self.name = inline, name
        self.kind, overrides = ("lop", lop_overrides) if not _is_default(lop_overrides) \
            else ("grad", grad_overrides)
        self.overrides = None if _is_default(overrides) else overrides
        self._markers = [_Marker(self, k) for k in range(len(self.outputs))]

    def __call__(self, *args: Any) -> Variable | list[Variable]:
        if len(args) != len(self.inputs):
            raise ValueError(f"Expected {len(self.inputs)} inputs, got {len(args)}"
                             f" (OpFromGraph {self.name or ''} over {self.inputs})")
        args = [self._argument(k, a) for k, a in enumerate(args)]
        outs = self.inline(args)
        if self.overrides is not None:
            outs = [custom_grad(out, *args, *self.shared_inputs, marker=self._markers[k])
                    for k, out in enumerate(outs)]
        return outs[0] if len(outs) == 1 else outs

    def _argument(self, k: int, arg: Any) -> Variable:
        want = self.inputs[k].type
        if is_literal(arg):
            arg = constant(arg, dtype=want.dtype)
        arg = as_tensor_variable(arg)
        if not isinstance(arg.type, TensorType) or arg.dtype != want.dtype or \
                arg.ndim != want.ndim or any(a is not None and w is not None and a != w
                                             for a, w in zip(arg.type.shape, want.shape)):
            raise TypeError(f"OpFromGraph: input {k} ({self.inputs[k]}) has type {want}, got "
                            f"{arg} of type {arg.type}")
        return arg

    def inline(self, args: Sequence[Variable]) -> list[Variable]:
        """The outputs' graph over ``args`` (a fresh copy)."""
        return clone_replace(self.outputs, dict(zip(self.inputs, args)))

    # ---- gradients --------------------------------------------------------------------------
    def gradients(self, args: Sequence[Variable], shared: Sequence[Variable],
                  output_grads: list[Variable]) -> list[Variable | None]:
        """The overridden gradients of the inputs, then of the shared variables."""
        wrt = list(self.inputs) + list(self.shared_inputs)
        n_in = len(self.inputs)
        overrides = self.overrides
        if isinstance(overrides, (list, tuple)):
            if len(overrides) not in (n_in, len(wrt)):
                raise ValueError(f"Need to override {len(wrt)} gradients, got "
                                 f"{len(overrides)}", list(overrides))
            grads = [None if _is_default(o) else self._call(o, args, output_grads, single=True)
                     for o in overrides]
        else:
            grads = self._call(overrides, args, output_grads, single=False)
            if len(grads) not in (n_in, len(wrt)):
                raise ValueError(f"Gradient/L_op overriding function should return list of "
                                 f"{len(wrt)} outputs, got {len(grads)}")
        grads = list(grads) + [None] * (len(wrt) - len(grads))
        default = [k for k, g in enumerate(grads) if g is None]
        if default:
            for k, g in zip(default, self._default_grads([wrt[k] for k in default],
                                                         args, output_grads)):
                grads[k] = g
        return [None if g is None else as_tensor_variable(g) for g in grads]

    def _call(self, override: Any, args: Sequence[Variable], output_grads: list[Variable],
              single: bool) -> Any:
        fn: Callable = override
        if isinstance(override, OpFromGraph):
            fn = (lambda i, g: override(*i, *g)) if self.kind == "grad" else \
                (lambda i, o, g: override(*i, *o, *g))
        if not callable(fn):
            raise TypeError(f"OpFromGraph: a gradient override must be 'default', a callable or "
                            f"an OpFromGraph, got {override!r}")
        inputs = list(args)
        result = fn(inputs, output_grads) if self.kind == "grad" else \
            fn(inputs, self.inline(args), output_grads)
        if single:
            return result
        return [result] if isinstance(result, Variable) else list(result)

    def _default_grads(self, wrt: list[Variable], args: Sequence[Variable],
                       output_grads: list[Variable]) -> list[Variable]:
        # differentiate the graph over its own placeholders, then substitute the arguments: an
        # argument passed to two inputs gets each input's part once
        from symconv.gradient import grad
        known = {out: g for out, g in zip(self.outputs, output_grads)}
        grads = grad(None, wrt, known_grads=known, disconnected_inputs="ignore")
        return clone_replace(grads, dict(zip(self.inputs, args)))

    def __repr__(self) -> str:
        return f"OpFromGraph{{{self.name or 'inline'}}}"


def _is_default(value: Any) -> bool:
    return isinstance(value, str) and value == _DEFAULT


class _Marker:
    """Which output of which OpFromGraph a custom_grad node stands for (compared by
    identity)."""

    def __init__(self, ofg: OpFromGraph, index: int) -> None:
        self.ofg, self.index = ofg, index

    def __repr__(self) -> str:
        return f"{self.ofg!r}[{self.index}]"


def _custom_grad_infer(value: TensorType, *rest: TensorType, marker: _Marker) -> TensorType:
    return value


def _custom_grad_kernel(xp: Any, value: Any, *rest: Any, marker: _Marker) -> Any:
    return value


def _custom_grad_grad(g: Variable, out: Variable, value: Variable, *rest: Variable,
                      marker: _Marker) -> list[Variable | None]:
    from symconv.tensor.basic import zeros_like
    ofg = marker.ofg
    args, shared = rest[:len(ofg.inputs)], rest[len(ofg.inputs):]
    outputs = ofg.inline(args)
    output_grads = [g if k == marker.index else zeros_like(o) for k, o in enumerate(outputs)]
    # the copied graph in ``value`` gets no gradient: the override stands for it
    return [None] + ofg.gradients(args, shared, output_grads)


custom_grad = Op("custom_grad", _custom_grad_infer, _custom_grad_kernel, _custom_grad_grad,
                 view=True, doc="An OpFromGraph output: its value, with the overridden gradient.")
custom_grad.foldable = False


@register("specialize", ops=["custom_grad"])
def drop_custom_grad(node: Any) -> Variable:
    # custom_grad(v, args...) -> v: gradients are taken before the specialize phase
    return node.inputs[0]


__all__ = ["OpFromGraph"]


def _register_theano_path() -> None:
    """``from symconv.compile.builders import OpFromGraph`` works, as Theano's path does."""
    import sys

    from symconv import compile as _compile
    _compile.builders = sys.modules[__name__]
    sys.modules.setdefault("symconv.compile.builders", sys.modules[__name__])


_register_theano_path()
