"""The loop of a scan node: its inner graph compiled once, run step by step into preallocated
buffers (one array per output holding every step, or a ring of the last rows when only the
final value is needed). The loop itself is generated Python specialised to the spec (one
statement per tap read and per output written), as the executor does for a schedule."""
from __future__ import annotations

from typing import Any, Callable

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
        self.name = spec.name or "scan_fn"
        self.history = [spec.init_len(j) for j in range(spec.n_outs)]
        # a ring keeps history + 1 rows: the rows a step reads and the one it writes
        self.ring = [None if spec.store_all[j] else self.history[j] + 1
                     for j in range(spec.n_outs)]
        self.source = self._generate()
        namespace: dict[str, Any] = {}
        exec(compile(self.source, f"<scan loop {self.name}>", "exec"), namespace)
        self.loop: Callable = namespace["loop"]

    def _row(self, j: int, offset: int) -> str:
        """The index expression of the row at step ``t + offset`` of output ``j``."""
        k, ring = self.history[j], self.ring[j]
        return f"t + {k + offset}" if ring is None else f"(t + {k + offset}) % {ring}"

    def _generate(self) -> str:
        spec = self.spec
        n_outs = spec.n_outs
        seqs = [f"s{i}" for i in range(spec.n_seqs)]
        bufs = [f"b{j}" for j in range(n_outs)]
        nonseqs = [f"c{i}" for i in range(spec.n_nonseqs)]
        args = [f"{s}[t, ...]" for s in seqs]
        for j in spec.recurrent:
            args += [f"b{j}[{self._row(j, tap)}, ...]" for tap in spec.taps[j]]
        args += nonseqs
        call = f"o = step({', '.join(args)})[0]"
        lines = [f"def loop(n, step, shapes, alloc, bad, {', '.join(seqs + bufs + nonseqs)}):",
                 "    t = 0", f"    {call}"]
        for j in range(n_outs):   # the first step allocates the outputs not fed back
            if not spec.taps[j]:
                lines.append(f"    b{j} = alloc({j}, o[{j}])")
        body = []
        for j in range(n_outs):
            body += [f"v = o[{j}]",
                     f"if getattr(v, 'shape', ()) != shapes[{j}]: bad({j}, t, v)",
                     f"b{j}[{self._row(j, 0)}] = v"]
        if spec.as_while:
            body.append(f"if o[{n_outs}]: return t + 1, ({', '.join(bufs)},)")
        lines += ["    " + line for line in body]
        lines.append("    for t in range(1, n):")
        lines.append(f"        {call}")
        lines += ["        " + line for line in body]
        lines.append(f"    return n, ({', '.join(bufs)},)")
        return "\n".join(lines) + "\n"

    def run(self, n_steps: Any, arrays: tuple) -> ScanResult:
        spec, xp = self.spec, self.backend.xp
        n = int(n_steps)
        if n < 0:
            raise IndexError(f"scan {self.name}: n_steps is {n} at run time; a symbolic "
                             f"n_steps must be >= 0 (a constant negative n_steps runs the "
                             f"loop backwards)")
        n_seqs, n_rec = spec.n_seqs, len(spec.recurrent)
        seqs = arrays[:n_seqs]
        inits = arrays[n_seqs:n_seqs + n_rec]
        nonseqs = arrays[n_seqs + n_rec:]
        for i, seq in enumerate(seqs):
            if seq.shape[0] < n:
                raise ValueError(f"scan {self.name}: sequence {i} "
                                 f"({spec.seq_inputs[i].name or 'unnamed'}) has "
                                 f"{seq.shape[0]} steps but the loop runs {n} steps")
        buffers: list[Any] = [None] * spec.n_outs
        shapes: list[Any] = [None] * spec.n_outs
        for j, init in zip(spec.recurrent, inits):
            k = self.history[j]
            if init.shape[0] < k:
                raise ValueError(f"scan {self.name}: output {j} reads {k} steps back (taps "
                                 f"{list(spec.taps[j])}) but its initial value has only "
                                 f"{init.shape[0]} rows (shape {tuple(init.shape)})")
            rows = self.ring[j] or k + n
            buf = xp.empty((rows,) + tuple(init.shape[1:]), dtype=spec.row_type(j).dtype)
            buf[:k] = init[:k]
            buffers[j], shapes[j] = buf, tuple(init.shape[1:])

        def alloc(j: int, value: Any) -> Any:
            shapes[j] = tuple(getattr(value, "shape", ()))
            return xp.empty((self.ring[j] or n,) + shapes[j], dtype=spec.row_type(j).dtype)

        if n == 0:
            missing = [j for j in range(spec.n_outs) if buffers[j] is None]
            if missing:
                raise ValueError(f"scan {self.name}: zero steps, so output {missing[0]} (not "
                                 f"fed back) has no value and no known shape")
            done = 0
        else:
            try:
                done, buffers = self.loop(n, self.program.run, shapes, alloc, self._bad,
                                          *seqs, *buffers, *nonseqs)
            except Exception as exc:
                raise self._step_error(exc) from None
        entries = []
        for j, buf in enumerate(buffers):
            k, ring = self.history[j], self.ring[j]
            if ring is None:
                entries.append((buf[:k + done] if done < n else buf, k, k + done - 1))
            else:
                entries.append((buf, k, (k + done - 1) % ring))
        return ScanResult(entries, done)

    def _bad(self, j: int, t: int, value: Any) -> None:
        raise ValueError(f"scan {self.name}: step {t} gave output {j} the shape "
                         f"{tuple(getattr(value, 'shape', ()))}, but its earlier steps (or its "
                         f"initial value) have another shape; every step of an output must "
                         f"have the same shape")

    def _step_error(self, exc: BaseException) -> BaseException:
        """``exc`` re-worded with the scan's name, the step and the failing inner node."""
        t, tb = "?", exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is self.loop.__code__:
                t = tb.tb_frame.f_locals.get("t", "?")
            tb = tb.tb_next
        err = self.program.describe_error(exc) or exc
        message = str(err) if f"scan {self.name}" in str(err) else \
            f"scan {self.name}, step {t}: {err}"
        try:
            new = type(err)(message)
        except Exception:
            new = RuntimeError(message)
        return new.with_traceback(exc.__traceback__)
