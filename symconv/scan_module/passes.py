"""Scan rewrites: drop outputs nobody reads (and the inputs only they needed); keep only the
last rows of outputs whose other steps nobody reads."""
from __future__ import annotations

from symconv.graph import Variable, apply, graph_inputs, rebuild, toposort_vars
from symconv.rewrite import register_pass
from symconv.scan_module.op import ScanSpec, scan_op, scan_out


def _pruned(node: object, read: set[int]) -> tuple[ScanSpec, list, dict[int, int]] | None:
    """A scan spec without the non-recurrent outputs outside ``read`` and without the
    sequences and non-sequences no remaining output needs: (spec, outer inputs, old output
    index -> new), or None when nothing can go."""
    spec = node.kw["spec"]
    keep = [j for j in range(spec.n_outs) if spec.taps[j] or j in read]
    n_cond = len(spec.inner_outputs) - spec.n_outs
    outs = [spec.inner_outputs[j] for j in keep] + spec.inner_outputs[spec.n_outs:]
    used = {id(v) for v in graph_inputs(outs)}
    seqs = [i for i, ph in enumerate(spec.seq_inputs) if id(ph) in used]
    nonseqs = [i for i, ph in enumerate(spec.nonseq_inputs) if id(ph) in used]
    if len(keep) == spec.n_outs and len(seqs) == spec.n_seqs and \
            len(nonseqs) == spec.n_nonseqs:
        return None
    inner = ([spec.seq_inputs[i] for i in seqs]
             + [ph for j in spec.recurrent for ph in spec.tap_inputs(j)]
             + [spec.nonseq_inputs[i] for i in nonseqs])
    new = ScanSpec(inner, outs, len(seqs), [spec.taps[j] for j in keep],
                   [spec.kinds[j] for j in keep], len(nonseqs), n_cond > 0,
                   spec.truncate_gradient, spec.name, spec.mode,
                   [spec.store_all[j] for j in keep])
    ins = node.inputs
    n_rec = len(spec.recurrent)
    outer = ([ins[0]] + [ins[1 + i] for i in seqs] + list(ins[1 + spec.n_seqs:1 + spec.n_seqs
                                                            + n_rec])
             + [ins[spec.nonseq_start + i] for i in nonseqs])
    return new, outer, {j: k for k, j in enumerate(keep)}


@register_pass("specialize")
def scan_prune(outputs: list[Variable]) -> list[Variable]:
    # scan(outs=[y0, y1, y2]) with only y0, y2 read -> scan(outs=[y0, y2]) (y1 not fed back),
    # without the sequences and non-sequences only y1 needed
    order = toposort_vars(outputs)
    read: dict[int, set[int]] = {}
    for var in order:
        if var.owner is not None and var.owner.op is scan_out:
            read.setdefault(id(var.owner.inputs[0]), set()).add(var.owner.kw["index"])
    remap: dict[int, dict[int, int]] = {}   # id(new scan) -> old output index -> new

    def rule(node: object, inputs: list[Variable]) -> Variable | None:
        if node.op is scan_op:
            found = _pruned(node, read.get(id(node.out), set()))
            if found is None:
                return None
            spec, outer, index = found
            rebuilt = {id(old): new for old, new in zip(node.inputs, inputs)}
            new = apply(scan_op, [rebuilt[id(i)] for i in outer], (("spec", spec),))
            remap[id(new)] = index
            return new
        if node.op is scan_out and id(inputs[0]) in remap:
            return scan_out(inputs[0], index=remap[id(inputs[0])][node.kw["index"]],
                            part=node.kw["part"])
        return None
    return rebuild(outputs, rule)

_LAST = (("int", -1),)


def _is_last_of(node: object) -> bool:
    """``scan_out(seq)[-1]``: the last step of an output."""
    return (node is not None and node.op.name == "subtensor" and node.kw["spec"] == _LAST
            and node.inputs[0].owner is not None and node.inputs[0].owner.op is scan_out
            and node.inputs[0].owner.kw["part"] == "seq")


@register_pass("specialize")
def scan_save_memory(outputs: list[Variable]) -> list[Variable]:
    # scan_out(b, j, 'seq')[-1] -> scan_out(b', j, 'last'), where b' stores only the last
    # values of output j (carried by reference) when nothing reads its other steps
    order = toposort_vars(outputs)
    clients: dict[int, list] = {}
    for var in order:
        if var.owner is not None:
            for inp in var.owner.inputs:
                clients.setdefault(id(inp), []).append(var.owner)
    external = {id(o) for o in outputs}
    needs_all: dict[int, set[int]] = {}   # id(bundle) -> outputs whose every step is read
    for var in order:
        node = var.owner
        if node is None or node.op is not scan_out:
            continue
        bundle = node.inputs[0]
        if node.kw["part"] == "last":
            continue
        users = clients.get(id(var), [])
        if node.kw["part"] == "seq" and id(var) not in external and users and all(
                _is_last_of(u) for u in users):
            continue
        needs_all.setdefault(id(bundle), set()).add(node.kw["index"])

    def rule(node: object, inputs: list[Variable]) -> Variable | None:
        if node.op is scan_op:
            spec = node.kw["spec"]
            keep = needs_all.get(id(node.out), set())
            store = [s and j in keep for j, s in enumerate(spec.store_all)]
            if store != spec.store_all:
                return apply(scan_op, inputs, (("spec", spec.with_store(store)),))
        elif _is_last_of(node):
            out_node = inputs[0].owner     # the scan_out over the (possibly rebuilt) scan
            bundle = out_node.inputs[0]
            if not bundle.owner.kw["spec"].store_all[out_node.kw["index"]]:
                return scan_out(bundle, index=out_node.kw["index"], part="last")
        return None
    return rebuild(outputs, rule)



