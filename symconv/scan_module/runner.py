"""The loop of a scan node: its inner graph compiled once, run step by step into buffers
allocated once (one array per output holding every step; an output whose final value alone is
read carries references to its last values instead, without copies). The loop itself is
generated Python specialised to the spec (one statement per tap read and per output written),
as the executor does for a schedule."""
from __future__ import annotations

from typing import Any, Callable

from symconv.scan_module.op import ScanResult, ScanSpec


class ScanRunner:
    """Runs one scan spec on one backend; the step is a Program built by the function pipeline
    (rewrites, fusion, schedule, buffer reuse), called directly without argument checks."""

    def __init__(self, spec: ScanSpec, backend: Any) -> None:
        from symconv.compile import _mode_settings, adopt_mode
        from symconv.executor import Program
        from symconv.rewrite import rewrite_graph
        self.spec, self.backend = spec, backend
        optimizer, instrument = _mode_settings(spec.mode, False)
        outputs = adopt_mode(rewrite_graph(spec.inner_outputs, optimizer), spec.mode)
        self.program = Program(spec.inner_inputs, [], outputs, [], backend, instrument)
        self.name = spec.name or "scan_fn"
        self.history = [spec.init_len(j) for j in range(spec.n_outs)]
        self.stored = [spec.store_all[j] for j in range(spec.n_outs)]
        self.source = self._generate()
        namespace: dict[str, Any] = {"asarray": backend.xp.asarray}
        exec(compile(self.source, f"<scan loop {self.name}>", "exec"), namespace)
        self.loop: Callable = namespace["loop"]

    def _read(self, j: int, tap: int) -> str:
        """The expression of output ``j``'s value at step ``t + tap``."""
        if self.stored[j]:
            return f"b{j}[t + {self.history[j] + tap}, ...]"
        return f"p{j}_{-tap}"     # the value carried from ``-tap`` steps ago

    def _write(self, j: int) -> list[str]:
        if self.stored[j]:
            return [f"b{j}[t + {self.history[j]}] = v"]
        # only the last values are needed: carry references (step results are fresh arrays)
        k = self.history[j]
        shift = [f"p{j}_{m} = p{j}_{m - 1}" for m in range(k, 1, -1)]
        value = "asarray(v)" if self.spec.row_type(j).ndim == 0 else "v"
        return shift + [f"p{j}_{1} = {value}"]

    def _generate(self) -> str:
        """``loop(n, ...) -> (steps done, per output: its buffer or its carried values)``."""
        spec = self.spec
        n_outs = spec.n_outs
        seqs = [f"s{i}" for i in range(spec.n_seqs)]
        bufs = [f"b{j}" for j in range(n_outs)]
        nonseqs = [f"c{i}" for i in range(spec.n_nonseqs)]
        args = [f"{s}[t, ...]" for s in seqs]
        for j in spec.recurrent:
            args += [self._read(j, tap) for tap in spec.taps[j]]
        args += nonseqs
        call = f"o = step({', '.join(args)})[0]"
        lines = [f"def loop(n, step, shapes, alloc, bad, {', '.join(seqs + bufs + nonseqs)}):",
                 "    t = 0"]
        for j in range(n_outs):   # carried values start from the initial rows
            if not self.stored[j]:
                lines += [f"    p{j}_{m} = b{j}[{self.history[j] - m}, ...]"
                          for m in range(self.history[j], 0, -1)]
                lines.append(f"    p{j}_1 = None" if not self.history[j] else "")
        lines.append(f"    {call}")
        for j in range(n_outs):   # the first step allocates the stored outputs not fed back
            if not spec.taps[j] and self.stored[j]:
                lines.append(f"    b{j} = alloc({j}, o[{j}])")
            elif not spec.taps[j]:
                lines.append(f"    shapes[{j}] = getattr(o[{j}], 'shape', ())")
        body = []
        for j in range(n_outs):
            body += [f"v = o[{j}]",
                     f"if getattr(v, 'shape', ()) != shapes[{j}]: bad({j}, t, v)"]
            body += self._write(j)
        results = ", ".join(f"b{j}" if self.stored[j] else f"p{j}_1" for j in range(n_outs))
        if spec.as_while:
            body.append(f"if o[{n_outs}]: return t + 1, ({results},)")
        lines += ["    " + line for line in body]
        lines.append("    for t in range(1, n):")
        lines.append(f"        {call}")
        lines += ["        " + line for line in body]
        lines.append(f"    return n, ({results},)")
        return "\n".join(line for line in lines if line.strip()) + "\n"

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
            shapes[j] = tuple(init.shape[1:])
            if self.stored[j]:
                buffers[j] = xp.empty((k + n,) + shapes[j], dtype=spec.row_type(j).dtype)
                buffers[j][:k] = init[:k]
            else:
                buffers[j] = init     # the carried values start as its rows

        def alloc(j: int, value: Any) -> Any:
            shapes[j] = tuple(getattr(value, "shape", ()))
            return xp.empty((n,) + shapes[j], dtype=spec.row_type(j).dtype)

        if n == 0:
            missing = [j for j in range(spec.n_outs) if buffers[j] is None]
            if missing:
                raise ValueError(f"scan {self.name}: zero steps, so output {missing[0]} (not "
                                 f"fed back) has no value and no known shape")
            done = 0
            results = [buf if self.stored[j] else buf[self.history[j] - 1]
                       for j, buf in enumerate(buffers)]
        else:
            try:
                done, results = self.loop(n, self.program.run, shapes, alloc, self._bad,
                                          *seqs, *buffers, *nonseqs)
            except Exception as exc:
                raise self._step_error(exc) from None
        entries = []
        for j, value in enumerate(results):
            k = self.history[j]
            if self.stored[j]:
                entries.append((value[:k + done] if done < n else value, k, k + done - 1))
            else:
                entries.append((None, k, value))
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
