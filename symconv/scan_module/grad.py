"""Backpropagation through time: the gradient of a scan is another scan, run backwards.

For forward step ``t`` with inner inputs ``u_t`` (sequence elements, past values of the
recurrent outputs, non-sequences) and inner outputs ``y_t``, the backward step computes the
vector-Jacobian product ``dy_t -> du_t`` of the inner graph. It carries, per recurrent output
with history ``K``, a window of the ``K`` pending adjoints of the rows the forward step at
``t`` may read, and per non-sequence an accumulated gradient; the gradients of sequence
elements are its per-step outputs. With ``truncate_gradient = k`` only the last ``k`` forward
steps are visited (Theano's rule: earlier steps and the initial values get no gradient).
Because the backward loop is built with ``scan`` itself, it has a gradient too.
"""
from __future__ import annotations

from typing import Any

from symconv.graph import FLOAT_DTYPES, Variable, clone_replace, graph_inputs
from symconv.scan_module.op import ScanSpec, scan_out


def _add(table: dict, key: Any, value: Variable) -> None:
    table[key] = value if key not in table else table[key] + value


def _seeds_by_output(seeds: list[Variable], spec: ScanSpec, bundle: Variable,
                     n_steps: Variable) -> tuple[dict, dict, dict]:
    """Per output: the gradient of its steps (T rows), of its last value, and of the rows of
    its initial value (from gradients of the whole buffer)."""
    import symconv.tensor as T
    direct: dict[int, Variable] = {}
    last: dict[int, Variable] = {}
    init_rows: dict[int, Variable] = {}
    for seed in seeds:
        if seed.owner is None or seed.owner.op.name != "scan_seed":
            raise TypeError(f"scan gradient: unexpected gradient term {seed!r}")
        g = seed.owner.inputs[0]
        j, part = seed.owner.kw["index"], seed.owner.kw["part"]
        k = spec.init_len(j)
        if part == "seq":
            _add(direct, j, g)
        elif part == "full":
            _add(direct, j, g[k:] if k else g)
            if k:
                _add(init_rows, j, g[:k])
        elif spec.taps[j]:
            _add(last, j, g)
        else:   # the last value of an output that is not fed back
            rows = T.zeros_like(scan_out(bundle, index=j, part="seq"))
            _add(direct, j, T.set_subtensor(rows[n_steps - 1], g))
    return direct, last, init_rows


def _fit(value: Variable, like: Variable) -> Variable:
    """``value`` with ``like``'s broadcastable pattern, so that it can replace ``like`` in a
    graph (nodes rebuilt over it keep their inferred types)."""
    if value.broadcastable == like.broadcastable:
        return value
    from symconv.tensor.basic import patternbroadcast
    return patternbroadcast(value, like.broadcastable)


def _is_float(var: Variable) -> bool:
    return var.dtype in FLOAT_DTYPES


def scan_grad(seeds: list[Variable], bundle: Variable, inputs: list[Variable],
              spec: ScanSpec) -> list[Variable | None]:
    """Gradients of a scan node's outer inputs given the seeds of its consumed outputs."""
    import symconv.tensor as T
    from symconv.gradient import grad
    from symconv.scan_module.builder import scan

    n_rec = len(spec.recurrent)
    seqs = inputs[1:1 + spec.n_seqs]
    inits = inputs[1 + spec.n_seqs:1 + spec.n_seqs + n_rec]
    nonseqs = inputs[spec.nonseq_start:]
    if spec.as_while:   # the steps actually run: the length of any output
        j = 0
        n_steps = scan_out(bundle, index=j, part="full").shape[0] - spec.init_len(j)
    else:
        n_steps = inputs[0]
    direct, last, init_rows = _seeds_by_output(seeds, spec, bundle, n_steps)
    grad_steps = n_steps
    if spec.truncate_gradient != -1:
        grad_steps = T.minimum(n_steps, spec.truncate_gradient)

    # the step's vector-Jacobian product, over the forward placeholders and fresh douts
    n_out = spec.n_outs
    outs = spec.inner_outputs[:n_out]
    window = [j for j in spec.recurrent if _is_float(outs[j])]
    douts: dict[int, Variable] = {}
    known: dict[Variable, Variable] = {}
    for j in range(n_out):
        if _is_float(outs[j]) and (j in window or j in direct):
            douts[j] = Variable(outs[j].type, None, f"d{outs[j].name or f'out{j}'}")
            known[outs[j]] = known[outs[j]] + douts[j] if outs[j] in known else douts[j]
    empty: list[Variable | None] = [None] * len(inputs)
    if not known:
        return empty
    wrt = [v for v in spec.inner_inputs if _is_float(v)]
    vjp = dict(zip(wrt, grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                             return_disconnected="None")))
    # the step's results are stored: the backward step reads them instead of recomputing
    # them (tanh's gradient reads tanh's output, not the forward step again)
    stored = {}
    for j, y in enumerate(outs):
        if y.owner is not None and y not in stored and not any(y is i for i in wrt):
            stored[y] = Variable(y.type, None, y.name)
    keys = [ph for ph in wrt if vjp[ph] is not None]
    vjp.update(zip(keys, clone_replace([vjp[ph] for ph in keys], stored)))
    used = {id(v) for v in graph_inputs([g for g in vjp.values() if g is not None])}

    # the backward scan's sequences: forward step values it needs, and the direct gradients
    seq_args: list[tuple[Variable, Variable]] = []   # (forward placeholder, outer sequence)
    for ph, seq in zip(spec.seq_inputs, seqs):
        if id(ph) in used:
            seq_args.append((ph, seq[:n_steps]))
    for j in spec.recurrent:
        k = spec.init_len(j)
        full = None
        for tap, ph in zip(spec.taps[j], spec.tap_inputs(j)):
            if id(ph) in used:
                full = full if full is not None else scan_out(bundle, index=j, part="full")
                seq_args.append((ph, full[k + tap:k + tap + n_steps]))
    for j, y in enumerate(outs):
        ph = stored.get(y)
        if ph is not None and id(ph) in used:
            seq_args.append((ph, scan_out(bundle, index=j, part="seq")[:n_steps]))
            used.discard(id(ph))   # one sequence per stored result
    direct_js = [j for j in direct if j in douts]
    seq_grads = [i for i, ph in enumerate(spec.seq_inputs) if vjp.get(ph) is not None]
    ns_grads = [i for i, ph in enumerate(spec.nonseq_inputs) if vjp.get(ph) is not None]
    nonseq_of = dict(zip(spec.nonseq_inputs, nonseqs))

    # a window of one row (taps [-1]) is carried as the row itself
    single = {j for j in window if spec.taps[j] == (-1,)}
    inits_info = []
    for j in window:
        init = inits[spec.recurrent.index(j)]
        if j in single:
            zero = last[j] if j in last else T.zeros_like(init[0])
        else:
            zero = T.zeros_like(init)
            if j in last:
                zero = T.inc_subtensor(zero[spec.init_len(j) - 1], last[j])
        inits_info.append(zero)
    acc_info = [T.zeros_like(nonseqs[i]) for i in ns_grads]

    def step(*args: Variable) -> list[Variable]:
        n_seq_args = len(seq_args)
        fwd_vals = args[:n_seq_args]
        g_direct = dict(zip(direct_js, args[n_seq_args:n_seq_args + len(direct_js)]))
        rest = args[n_seq_args + len(direct_js):]
        windows = dict(zip(window, rest[:len(window)]))
        accs = rest[len(window):]
        replace: dict[Variable, Variable] = {ph: _fit(v, ph)
                                             for (ph, _), v in zip(seq_args, fwd_vals)}
        replace.update((ph, v) for ph, v in nonseq_of.items() if id(ph) in used)
        for j, d in douts.items():
            value = None
            if j in windows:
                value = windows[j] if j in single else windows[j][spec.init_len(j) - 1]
            if j in g_direct:
                value = g_direct[j] if value is None else value + g_direct[j]
            replace[d] = _fit(value, d)   # douts exist for windowed or seeded outputs only
        keys = [ph for ph in wrt if vjp.get(ph) is not None]
        values = clone_replace([vjp[ph] for ph in keys], replace)
        step_grad = dict(zip(keys, values))
        results: list[Variable] = [step_grad[spec.seq_inputs[i]] for i in seq_grads]
        for j in window:
            k, w = spec.init_len(j), windows[j]
            if j in single:
                g = step_grad.get(spec.tap_inputs(j)[0])
                results.append(T.zeros_like(w) if g is None else g)
                continue
            rows = [w[m - 1] if m >= 1 else None for m in range(k)]
            for tap, ph in zip(spec.taps[j], spec.tap_inputs(j)):
                if step_grad.get(ph) is not None:
                    row = rows[k + tap]
                    rows[k + tap] = step_grad[ph] if row is None else row + step_grad[ph]
            results.append(T.stack([T.zeros_like(w[0]) if r is None else r for r in rows]))
        for acc, i in zip(accs, ns_grads):
            results.append(acc + step_grad[spec.nonseq_inputs[i]])
        return results

    sequences = [s for _, s in seq_args] + [direct[j] for j in direct_js]
    outputs_info = [None] * len(seq_grads) + inits_info + acc_info
    if not outputs_info:
        return empty
    bwd, _ = scan(step, sequences=sequences, outputs_info=outputs_info, n_steps=grad_steps,
                  go_backwards=True, truncate_gradient=spec.truncate_gradient,
                  name=f"grad_of_{spec.name or 'scan_fn'}", mode=spec.mode, return_list=True,
                  _rebroadcast=True)

    grads = list(empty)
    for pos, i in enumerate(seq_grads):
        seq = seqs[i]
        rows = T.zeros_like(seq)
        grads[1 + i] = T.inc_subtensor(rows[n_steps - grad_steps:n_steps], bwd[pos][::-1])
    for pos, j in enumerate(window):
        g = bwd[len(seq_grads) + pos][-1]
        if j in single:
            g = T.shape_padleft(g)
        if spec.truncate_gradient != -1:   # the window reached the initial rows only if
            g = T.switch(T.eq(grad_steps, n_steps), g, T.zeros_like(g))  # not truncated
        if j in init_rows:
            g = g + init_rows[j]
        grads[1 + spec.n_seqs + spec.recurrent.index(j)] = g
    for j, g in init_rows.items():
        position = 1 + spec.n_seqs + spec.recurrent.index(j)
        if grads[position] is None:
            grads[position] = g
    base = len(seq_grads) + len(window)
    for pos, i in enumerate(ns_grads):
        grads[spec.nonseq_start + i] = bwd[base + pos][-1]
    return grads
