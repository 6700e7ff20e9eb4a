"""The loop of a scan node: its inner graph compiled once, run step by step into preallocated
buffers (one array per output holding every step, or a ring of the last rows when only the
final value is needed)."""
from __future__ import annotations

from typing import Any

from symconv.scan_module.op import ScanResult, ScanSpec


class ScanRunner:
    """Runs one scan spec on one backend; the step is a Program built by the function pipeline
    (rewrites, fusion, schedule, buffer reuse), called directly without argument checks."""

    def __init__(self, spec: ScanSpec, backend: Any) -> None:
        from symconv.compile import _mode_settings
        from symconv.executor import Program
        from symconv.rewrite import rewrite_graph
        self.spec, self.backend = spec, backend
        optimizer, instrument = _mode_settings(spec.mode, False)
        outputs = rewrite_graph(spec.inner_outputs, optimizer)
        self.program = Program(spec.inner_inputs, [], outputs, [], backend, instrument)
        self.step = self.program.run
        self.name = spec.name or "scan_fn"
        self.recurrent = spec.recurrent
        self.history = [spec.init_len(j) for j in range(spec.n_outs)]
        # rows of each buffer beyond the steps themselves: a ring keeps history + 1 rows
        self.ring = [None if spec.store_all[j] else self.history[j] + 1
                     for j in range(spec.n_outs)]

    def run(self, n_steps: Any, arrays: tuple) -> ScanResult:
        spec, xp = self.spec, self.backend.xp
        n = int(n_steps)
        if n < 0:
            raise IndexError(f"scan {self.name}: n_steps is {n} at run time; a symbolic "
                             f"n_steps must be >= 0 (a constant negative n_steps runs the "
                             f"loop backwards)")
        n_seqs, n_rec = spec.n_seqs, len(self.recurrent)
        seqs = arrays[:n_seqs]
        inits = arrays[n_seqs:n_seqs + n_rec]
        nonseqs = list(arrays[n_seqs + n_rec:])
        for i, seq in enumerate(seqs):
            if seq.shape[0] < n:
                raise ValueError(f"scan {self.name}: sequence {i} "
                                 f"({spec.seq_inputs[i].name or 'unnamed'}) has "
                                 f"{seq.shape[0]} steps but the loop runs {n} steps")
        buffers: list[Any] = [None] * spec.n_outs
        shapes: list[Any] = [None] * spec.n_outs
        for j, init in zip(self.recurrent, inits):
            k = self.history[j]
            if init.shape[0] < k:
                raise ValueError(f"scan {self.name}: output {j} reads {k} steps back (taps "
                                 f"{list(spec.taps[j])}) but its initial value has only "
                                 f"{init.shape[0]} rows (shape {tuple(init.shape)})")
            rows = self.ring[j] or k + n
            buf = xp.empty((rows,) + tuple(init.shape[1:]), dtype=spec.row_type(j).dtype)
            buf[:k] = init[:k]
            buffers[j], shapes[j] = buf, tuple(init.shape[1:])
        # per recurrent output: (j, history, ring, taps)
        reads = [(j, self.history[j], self.ring[j], spec.taps[j]) for j in self.recurrent]
        writes = [(j, self.history[j], self.ring[j]) for j in range(spec.n_outs)]
        as_while, step = spec.as_while, self.step
        done = n
        t = 0
        try:
            for t in range(n):
                args = [seq[t, ...] for seq in seqs]
                for j, k, ring, taps in reads:
                    buf = buffers[j]
                    if ring is None:
                        args.extend([buf[k + t + tap, ...] for tap in taps])
                    else:
                        args.extend([buf[(k + t + tap) % ring, ...] for tap in taps])
                args.extend(nonseqs)
                outs = step(*args)[0]
                for j, k, ring in writes:
                    value = outs[j]
                    buf = buffers[j]
                    if buf is None:    # an output not fed back: its shape is known now
                        shapes[j] = tuple(getattr(value, "shape", ()))
                        rows = ring or n
                        buf = buffers[j] = xp.empty((rows,) + shapes[j],
                                                    dtype=spec.row_type(j).dtype)
                    elif tuple(getattr(value, "shape", ())) != shapes[j]:
                        raise ValueError(
                            f"scan {self.name}: step {t} gave output {j} the shape "
                            f"{tuple(getattr(value, 'shape', ()))}, but its earlier steps "
                            f"(or its initial value) have shape {shapes[j]}; every step of an "
                            f"output must have the same shape")
                    buf[(k + t) if ring is None else (k + t) % ring] = value
                if as_while and bool(outs[-1]):
                    done = t + 1
                    break
        except Exception as exc:
            better = self.program.describe_error(exc)
            err = better if better is not None else exc
            try:
                new = type(err)(f"scan {self.name}, step {t}: {err}")
            except Exception:
                new = RuntimeError(f"scan {self.name}, step {t}: {err}")
            raise new.with_traceback(exc.__traceback__) from None
        entries = []
        for j in range(spec.n_outs):
            buf, k, ring = buffers[j], self.history[j], self.ring[j]
            if buf is None:
                raise ValueError(f"scan {self.name}: zero steps, so output {j} (not fed "
                                 f"back) has no value and no known shape")
            if ring is None:
                if done < n:
                    buf = buf[:k + done]
                entries.append((buf, k, k + done - 1))
            else:
                entries.append((buf, k, (k + done - 1) % ring))
        return ScanResult(entries, done)
