"""``scan()``: calls the user's step function on placeholders and builds the scan node.

Theano's conventions: each sequence tap becomes its own sliced outer sequence; an output fed
back through taps ``[-k, ...]`` keeps an initial buffer of ``k`` rows; shared variables updated
by the step (explicitly, or by their ``default_update``) become recurrent outputs whose last
value is returned as an update. Every subexpression of the step that does not depend on a
per-step value (loop-invariant code, the outer graph's variables, non-sequences) is computed
outside the loop and enters as a non-sequence input.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from symconv.graph import (Constant, SharedVariable, TensorType, Variable, apply,
                           as_tensor_variable, toposort_vars)
from symconv.scan_module.op import ScanSpec, scan_op, scan_out


class until:
    """Returned by a scan step (after its outputs and updates) to stop the loop once
    ``condition`` is true; the step where it becomes true is the last one kept."""

    def __init__(self, condition: Any) -> None:
        self.condition = as_tensor_variable(condition)
        if self.condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {self.condition} "
                            f"of type {self.condition.type}")


def _wrap(x: Any) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_outputs(x: Any) -> bool:
    def one(e: Any) -> bool:
        return isinstance(e, (Variable, int, float, np.ndarray, np.generic)) and \
            not isinstance(e, bool)
    return one(x) or (isinstance(x, (list, tuple)) and all(one(e) for e in x))


def _is_updates(x: Any) -> bool:
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and all(
        isinstance(e, (list, tuple)) and len(e) == 2 for e in x))


def _updates(x: Any) -> OrderedDict:
    return OrderedDict(x.items() if isinstance(x, dict) else [tuple(e) for e in x])


def parse_step_result(result: Any) -> tuple[Variable | None, list[Variable], OrderedDict]:
    """(condition, outputs, updates) from what a step function returned, in any of Theano's
    accepted forms: outputs; updates; (outputs, updates); (outputs, until); (updates, until);
    (outputs, updates, until)."""
    def outs(x: Any) -> list[Variable]:
        return [as_tensor_variable(e) for e in _wrap(x)]

    if isinstance(result, until):
        return result.condition, [], OrderedDict()
    if _is_outputs(result):
        return None, outs(result), OrderedDict()
    if _is_updates(result):
        return None, [], _updates(result)
    error = (f"scan: cannot parse the value returned by the step function: {result!r}; "
             f"return outputs, an updates dict, or (outputs, updates), optionally followed "
             f"by until(condition)")
    if isinstance(result, (list, tuple)) and len(result) == 2:
        a, b = result
        if _is_outputs(a) and _is_updates(b):
            return None, outs(a), _updates(b)
        if _is_outputs(a) and isinstance(b, until):
            return b.condition, outs(a), OrderedDict()
        if _is_updates(a) and isinstance(b, until):
            return b.condition, [], _updates(a)
        if _is_updates(a) and _is_outputs(b):
            raise ValueError(error + "; the outputs must come before the updates")
    if isinstance(result, (list, tuple)) and len(result) == 3:
        a, b, c = result
        if _is_outputs(a) and _is_updates(b) and isinstance(c, until):
            return c.condition, outs(a), _updates(b)
    raise ValueError(error)


def _placeholder(type_: TensorType, name: str | None) -> Variable:
    return Variable(type_, None, name)


def _tap_name(base: str | None, k: int) -> str | None:
    if base is None:
        return None
    return f"{base}[t{k:+d}]" if k else f"{base}[t]"


def _n_steps_constant(n_steps: Any) -> int | None:
    if isinstance(n_steps, (int, np.integer)) and not isinstance(n_steps, bool):
        return int(n_steps)
    if isinstance(n_steps, float):
        return int(n_steps)
    if isinstance(n_steps, Constant) and n_steps.ndim == 0:
        return int(n_steps.data)
    return None


def _close_over(roots: list[Variable], loop_vars: dict[int, Variable],
                blockers: list[Variable]) -> tuple[list[Variable], list[Variable],
                                                   list[Variable]]:
    """The roots rebuilt as an inner graph: every variable in ``loop_vars`` (id -> its
    placeholder) is per-step; every maximal subexpression that depends on none of them (and is
    not a constant) is replaced by a fresh placeholder. Returns (inner roots, outer values,
    their placeholders). ``blockers`` are outer values never looked into (non-sequences)."""
    memo: dict[int, Variable] = {}
    per_step: dict[int, bool] = {}
    outer: list[Variable] = []
    outer_ph: dict[int, Variable] = {}

    def lift(var: Variable) -> Variable:
        if per_step[id(var)] or isinstance(var, Constant):
            return memo[id(var)]
        ph = outer_ph.get(id(var))
        if ph is None:
            ph = outer_ph[id(var)] = _placeholder(var.type, var.name)
            outer.append(var)
        return ph

    for var in toposort_vars(roots, blockers):
        if id(var) in loop_vars:
            per_step[id(var)], memo[id(var)] = True, loop_vars[id(var)]
        elif var.owner is None or any(var is b for b in blockers):
            per_step[id(var)], memo[id(var)] = False, var
        else:
            node = var.owner
            if any(per_step[id(i)] for i in node.inputs):
                new = apply(node.op, [lift(i) for i in node.inputs], node.params)
                new.name, new.trace = var.name, var.trace
                per_step[id(var)], memo[id(var)] = True, new
            else:
                per_step[id(var)], memo[id(var)] = False, var
    return [lift(r) for r in roots], outer, [outer_ph[id(v)] for v in outer]


def _push_out_sequence_dots(roots: list[Variable], seq_phs: list[Variable],
                            outer_seqs: list[Variable], outer_phs: list[Variable],
                            outer_vals: list[Variable]) -> tuple[list[Variable], list, list]:
    """The roots with every ``dot(x_t, w)`` of a sequence element by a loop-invariant value
    (and ``dot(w, x_t)`` for a vector ``x_t``) read from a new sequence computed by one matrix
    product before the loop (Theano's scan pushout of dots); its gradient is then one product
    after the backward loop too. Returns (roots, new outer sequences, their placeholders)."""
    from symconv.graph import clone_replace
    from symconv.tensor.basic import dot, reshape, transpose
    seq_of = {id(ph): seq for ph, seq in zip(seq_phs, outer_seqs)}
    val_of = {id(ph): val for ph, val in zip(outer_phs, outer_vals)}
    replace: dict[Variable, Variable] = {}
    new_seqs, new_phs = [], []
    for var in toposort_vars(roots):
        node = var.owner
        if node is None or node.op.name != "dot":
            continue
        a, b = node.inputs
        if id(a) in seq_of and id(b) in val_of and a.ndim in (1, 2):
            seq, w = seq_of[id(a)], val_of[id(b)]
            if a.ndim == 1:
                whole = dot(seq, w)
            else:   # (steps, rows, n) @ w as one (steps * rows, n) product
                flat = reshape(seq, (seq.shape[0] * seq.shape[1], seq.shape[2]))
                sizes = [seq.shape[0], seq.shape[1]] + ([w.shape[1]] if w.ndim == 2 else [])
                whole = reshape(dot(flat, w), sizes)
        elif id(b) in seq_of and id(a) in val_of and a.ndim == 2 and b.ndim == 1:
            whole = dot(seq_of[id(b)], transpose(val_of[id(a)]))
        else:
            continue
        if whole.dtype != var.dtype or whole.ndim != var.ndim + 1:
            continue
        ph = _placeholder(var.type, var.name)
        replace[var] = ph
        new_seqs.append(whole)
        new_phs.append(ph)
    if not replace:
        return roots, [], []
    return clone_replace(roots, replace), new_seqs, new_phs


def _find_default_updates(roots: list[Variable], blockers: list[Variable],
                          explicit: OrderedDict) -> OrderedDict:
    """Shared variables reached from the step's results (not through a non-sequence) that have
    a default_update and no explicit update: Theano updates them at every step."""
    found: OrderedDict = OrderedDict()
    todo = list(roots)
    while todo:
        new = []
        for var in toposort_vars(todo, blockers):
            if (isinstance(var, SharedVariable) and getattr(var, "default_update", None)
                    is not None and var not in explicit and var not in found):
                found[var] = as_tensor_variable(var.default_update)
                new.append(found[var])
        todo = new
    return found


def _check_recurrent(j: int, out: Variable, ph: Variable, what: str, rebroadcast: bool
                     ) -> Variable:
    """The step's result for a recurrent output, checked against the type of its taps."""
    want = ph.type
    if out.dtype != want.dtype or out.ndim != want.ndim:
        raise TypeError(
            f"scan: the step function's result for {what} is {out.type} but its initial "
            f"value is {want}; they must have the same dtype and number of dimensions (cast "
            f"the result, e.g. T.cast(result, '{want.dtype}'), or the initial value)")
    bad = [a for a, (w, o) in enumerate(zip(want.shape, out.type.shape))
           if w is not None and o is not None and w != o or w == 1 and o != 1]
    if bad and rebroadcast:
        from symconv.tensor.basic import patternbroadcast
        return patternbroadcast(out, want.broadcastable)
    if bad:
        raise TypeError(
            f"scan: the step function's result for {what} has type {out.type} but its "
            f"initial value has type {want} (axes {bad} differ: a broadcastable axis of the "
            f"initial value must stay broadcastable); make them agree, e.g. with "
            f"T.unbroadcast(initial, *{bad}) or T.patternbroadcast(result, ...)")
    return out


def scan(fn: Callable, sequences: Any = None, outputs_info: Any = None,
         non_sequences: Any = None, n_steps: Any = None, truncate_gradient: int = -1,
         go_backwards: bool = False, mode: Any = None, name: str | None = None,
         profile: bool = False, allow_gc: bool | None = None, strict: bool = False,
         return_list: bool = False, _rebroadcast: bool = False
         ) -> tuple[Any, OrderedDict]:
    """Loop ``fn`` over sequences, feeding back outputs: Theano's ``scan``.

    Parameters
    ----------
    fn : callable
        Called once on symbolic placeholders, as ``fn(*sequence_taps, *output_taps,
        *non_sequences)``; returns outputs, an updates dict, or both, optionally followed by
        ``until(condition)``.
    sequences : Variable, dict(input=, taps=[...]) or a list of them
        Iterated over their first axis; tap ``k`` gives element ``t + k`` at step ``t``.
    outputs_info : None, initial value, dict(initial=, taps=[-k, ...]) or a list of them
        One entry per output: None for an output not fed back; an initial value for one fed
        back as ``t - 1``; a dict for several past steps (the initial value then holds
        ``max(k)`` rows, oldest first).
    non_sequences : list, optional
        Passed unchanged to every step.
    n_steps : int or integer scalar, optional
        Number of steps (default: the shortest sequence); a constant negative value runs
        backwards.
    truncate_gradient : int
        Back-propagate through at most this many (last) steps; -1 for all.
    go_backwards : bool
        Iterate the sequences from the end.

    Returns
    -------
    (outputs, updates)
        ``outputs``: one variable (or a list, in ``outputs_info`` order) holding every step;
        ``updates``: an OrderedDict of shared-variable updates for ``function(updates=...)``.
    """
    seqs = _wrap(sequences)
    outs_info = _wrap(outputs_info)
    non_seqs = [as_tensor_variable(x) for x in _wrap(non_sequences)]

    fixed = _n_steps_constant(n_steps)
    if fixed is not None and fixed < 0:
        go_backwards, n_steps, fixed = not go_backwards, -fixed, -fixed
    if n_steps is not None:
        n_steps = as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or n_steps.dtype[0] not in "iu":
            raise ValueError(f"scan: n_steps must be an integer scalar, got {n_steps} of "
                             f"type {n_steps.type}")

    # sequences: one sliced (and maybe reversed) outer sequence per tap
    outer_seqs, seq_phs = [], []
    for i, seq in enumerate(seqs):
        if isinstance(seq, dict):
            if "input" not in seq:
                raise ValueError(f"scan: sequence {i} is a dict without an 'input' entry")
            x, taps = as_tensor_variable(seq["input"]), _wrap(seq.get("taps")) or [0]
        else:
            x, taps = as_tensor_variable(seq), [0]
        if x.ndim == 0:
            raise TypeError(f"scan: sequence {i} ({x}) is a scalar; sequences are iterated "
                            f"over their first axis")
        lo, hi = min(min(taps), 0), max(max(taps), 0)
        for k in taps:
            start, end = k - lo, k - hi
            piece = x[start:end] if end else (x[start:] if start else x)
            if go_backwards:
                piece = piece[::-1]
            outer_seqs.append(piece)
            seq_phs.append(_placeholder(TensorType(x.dtype, x.type.shape[1:]),
                                        _tap_name(x.name, k)))

    if n_steps is None:
        if not outer_seqs:
            raise ValueError("scan: no information about the number of steps: give n_steps "
                             "or at least one sequence")
        n_steps = outer_seqs[0].shape[0]
        for piece in outer_seqs[1:]:
            from symconv.tensor.basic import minimum
            n_steps = minimum(n_steps, piece.shape[0])
    from symconv.ops.elemwise import cast
    n_steps = n_steps if n_steps.dtype == "int64" else cast(n_steps, "int64")

    # outputs: taps and initial buffers
    from symconv.tensor.basic import shape_padleft, unbroadcast
    out_taps: list[tuple[int, ...]] = []
    inits: list[Variable] = []
    tap_phs: list[list[Variable]] = []
    for i, info in enumerate(outs_info):
        if info is None:
            info = {}
        elif not isinstance(info, dict):
            info = {"initial": info, "taps": [-1]}
        elif info.get("initial") is None and info.get("taps") is not None:
            raise ValueError(f"scan: outputs_info[{i}] gives taps {info['taps']} but no "
                             f"initial value; an output read through taps needs one")
        elif info.get("initial") is not None and info.get("taps") is None:
            info = {"initial": info["initial"], "taps": [-1]}
        if info.get("initial") is None:
            out_taps.append(())
            tap_phs.append([])
            continue
        taps = [int(t) for t in _wrap(info["taps"])]
        if len(set(taps)) != len(taps) or any(t >= 0 for t in taps):
            raise ValueError(f"scan: outputs_info[{i}] taps {taps} must be distinct and "
                             f"negative (a step can only read past values of an output)")
        init = as_tensor_variable(info["initial"])
        out_taps.append(tuple(taps))
        if taps == [-1]:
            inits.append(unbroadcast(shape_padleft(init), 0))
            tap_phs.append([_placeholder(init.type, _tap_name(init.name, -1))])
        else:
            if init.ndim == 0:
                raise TypeError(f"scan: outputs_info[{i}] reads taps {taps}, so its initial "
                                f"value needs a leading axis of {-min(taps)} steps; got a "
                                f"scalar {init}")
            inits.append(init[:-min(taps)])
            row = TensorType(init.dtype, init.type.shape[1:])
            tap_phs.append([_placeholder(row, _tap_name(init.name, t)) for t in taps])

    args = seq_phs + [ph for phs in tap_phs for ph in phs] + non_seqs
    cond, outputs, updates = parse_step_result(fn(*args))
    if outs_info and len(outputs) != len(outs_info):
        raise ValueError(f"scan: the step function returned {len(outputs)} outputs but "
                         f"outputs_info has {len(outs_info)} entries; give None in "
                         f"outputs_info for every output that is not fed back")
    if not outs_info:
        out_taps, tap_phs = [()] * len(outputs), [[] for _ in outputs]
    for key in updates:
        if not isinstance(key, SharedVariable):
            raise TypeError(f"scan: the step function's updates must target shared "
                            f"variables, got {key!r}")
    updates = OrderedDict((k, as_tensor_variable(v)) for k, v in updates.items())

    # shared variables updated at every step: explicit updates and default_updates
    roots = outputs + list(updates.values()) + ([cond] if cond is not None else [])
    updates.update(_find_default_updates(roots, non_seqs, updates))
    shared_phs = [_placeholder(var.type, f"{var.name}[t-1]" if var.name else None)
                  for var in updates]
    loop_vars = {id(ph): ph for ph in seq_phs + [p for ps in tap_phs for p in ps]}
    loop_vars.update({id(var): ph for var, ph in zip(updates, shared_phs)})
    roots = outputs + list(updates.values()) + ([cond] if cond is not None else [])
    inner_roots, outer_vals, outer_phs = _close_over(roots, loop_vars, non_seqs)
    if strict:
        from symconv.graph import graph_inputs
        passed = {id(v) for v in non_seqs}
        for leaf in graph_inputs(outer_vals, non_seqs):
            if isinstance(leaf, SharedVariable) and id(leaf) not in passed:
                raise ValueError(f"scan(strict=True): the step function uses the shared "
                                 f"variable {leaf} ({leaf.type}), which is not among the "
                                 f"non_sequences")

    inner_roots, dot_seqs, dot_phs = _push_out_sequence_dots(inner_roots, seq_phs, outer_seqs,
                                                             outer_phs, outer_vals)
    seq_phs, outer_seqs = seq_phs + dot_phs, outer_seqs + dot_seqs
    inner_outs = inner_roots[:len(outputs)]
    inner_updates = inner_roots[len(outputs):len(outputs) + len(updates)]
    for j, (out, phs) in enumerate(zip(inner_outs, tap_phs)):
        if phs:
            inner_outs[j] = _check_recurrent(j, out, phs[0], f"output {j}", _rebroadcast)
    for j, (var, out, ph) in enumerate(zip(updates, inner_updates, shared_phs)):
        if out.dtype != var.dtype or out.ndim != var.ndim:
            raise TypeError(f"scan: the update of shared variable {var} ({var.type}) made in "
                            f"the loop has type {out.type}; cast it to {var.dtype}")
        inner_updates[j] = _check_recurrent(j, out, ph, f"the update of {var}", True)
    inner_cond = []
    if cond is not None:
        inner_cond = [inner_roots[-1]]
        if inner_cond[0].dtype != "bool":
            from symconv.ops.elemwise import neq
            inner_cond = [neq(inner_cond[0], 0)]

    taps_all = out_taps + [(-1,)] * len(updates)
    kinds = ["out"] * len(outputs) + ["shared"] * len(updates)
    inner_inputs = (seq_phs + [p for ps in tap_phs for p in ps] + shared_phs + outer_phs)
    spec = ScanSpec(inner_inputs, inner_outs + inner_updates + inner_cond, len(seq_phs),
                    taps_all, kinds, len(outer_phs), cond is not None, truncate_gradient,
                    name, mode)
    shared_inits = [unbroadcast(shape_padleft(var), 0) for var in updates]
    bundle = scan_op(n_steps, *outer_seqs, *inits, *shared_inits, *outer_vals, spec=spec)
    results = [scan_out(bundle, index=j, part="seq") for j in range(len(outputs))]
    for j, out in enumerate(results):
        out.name = f"{name or 'scan'}.out{j}" if len(results) > 1 else (name or None)
    new_updates: OrderedDict = OrderedDict()
    for j, var in enumerate(updates):
        new_updates[var] = scan_out(bundle, index=len(outputs) + j, part="last")
    if not results:
        return None, new_updates
    if len(results) == 1 and not return_list:
        return results[0], new_updates
    return results, new_updates

