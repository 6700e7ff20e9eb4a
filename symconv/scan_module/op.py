"""The scan op: one node runs a loop over a compiled inner graph; ``scan_out`` picks its results.

The IR has single-output nodes, so a scan node's result is a *bundle* (a ScanResult holding every
output buffer) with a placeholder type, and each output the user sees is ``scan_out(bundle)``.
Gradients reach the bundle as ``scan_seed`` markers (one per consumed output), which the scan's
gradient rule reads all together (``sum_grads`` keeps them as a list).

Outer inputs of a scan node: ``[n_steps] + sequences + initial buffers + non-sequences``.
Inner inputs: one per sequence, one per tap of each recurrent output, one per non-sequence.
Inner outputs: one per output (recurrent ones first fed back through their taps), then the
``until`` condition for a while loop.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from symconv.graph import Op, TensorType, Variable

# the bundle's type: float (so gradients reach it) and empty (its array form is np.zeros(0))
BUNDLE_TYPE = TensorType("float64", (0,))


class ScanSpec:
    """The inner graph of one scan and the layout of its outer inputs and outputs.

    ``taps[j]`` is the tuple of (negative) taps through which output ``j`` is fed back (empty:
    not fed back); ``kinds[j]`` is 'out' for a user output or 'shared' for the in-loop update
    of a shared variable; ``store_all[j]`` is False when only the last value is needed.
    Compared by identity: two scans built separately are never merged.
    """

    def __init__(self, inner_inputs: Sequence[Variable], inner_outputs: Sequence[Variable],
                 n_seqs: int, taps: Sequence[tuple[int, ...]], kinds: Sequence[str],
                 n_nonseqs: int, as_while: bool, truncate_gradient: int = -1,
                 name: str | None = None, mode: Any = None,
                 store_all: Sequence[bool] | None = None) -> None:
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs = n_seqs
        self.taps = [tuple(t) for t in taps]
        self.kinds = list(kinds)
        self.n_nonseqs = n_nonseqs
        self.as_while = as_while
        self.truncate_gradient = truncate_gradient
        self.name = name
        self.mode = mode
        self.store_all = list(store_all) if store_all is not None else [True] * len(self.taps)
        self._runners: dict[Any, Any] = {}

    # ---- layout ----------------------------------------------------------------------------
    @property
    def n_outs(self) -> int:
        return len(self.taps)

    def init_len(self, j: int) -> int:
        """Rows of history before step 0 (the initial buffer's length) for output ``j``."""
        return -min(self.taps[j]) if self.taps[j] else 0

    @property
    def recurrent(self) -> list[int]:
        return [j for j in range(self.n_outs) if self.taps[j]]

    @property
    def nonseq_start(self) -> int:
        return 1 + self.n_seqs + len(self.recurrent)

    def tap_inputs(self, j: int) -> list[Variable]:
        """The inner inputs receiving output ``j``'s taps, in the order of ``taps[j]``."""
        start = self.n_seqs
        for k in range(j):
            start += len(self.taps[k])
        return self.inner_inputs[start:start + len(self.taps[j])]

    @property
    def seq_inputs(self) -> list[Variable]:
        return self.inner_inputs[:self.n_seqs]

    @property
    def nonseq_inputs(self) -> list[Variable]:
        return self.inner_inputs[len(self.inner_inputs) - self.n_nonseqs:]

    def row_type(self, j: int) -> TensorType:
        """The type of one step's value of output ``j``."""
        if self.taps[j]:
            return self.tap_inputs(j)[0].type
        return self.inner_outputs[j].type

    def with_store(self, store_all: Sequence[bool]) -> "ScanSpec":
        return ScanSpec(self.inner_inputs, self.inner_outputs, self.n_seqs, self.taps,
                        self.kinds, self.n_nonseqs, self.as_while, self.truncate_gradient,
                        self.name, self.mode, store_all)

    def with_mode(self, mode: Any) -> "ScanSpec":
        return ScanSpec(self.inner_inputs, self.inner_outputs, self.n_seqs, self.taps,
                        self.kinds, self.n_nonseqs, self.as_while, self.truncate_gradient,
                        self.name, mode, self.store_all)

    # ---- running ----------------------------------------------------------------------------
    def runner(self, backend: Any) -> Any:
        """The compiled loop for ``backend`` (the inner graph is compiled once, on first use)."""
        key = backend.name
        runner = self._runners.get(key)
        if runner is None:
            from symconv.scan_module.runner import ScanRunner
            runner = self._runners[key] = ScanRunner(self, backend)
        return runner

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_runners"] = {}
        state["mode"] = getattr(self.mode, "name", self.mode)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        parts = [self.name or "scan_fn"]
        if self.as_while:
            parts.append("while")
        if self.truncate_gradient != -1:
            parts.append(f"truncate={self.truncate_gradient}")
        return ",".join(parts)


class ScanResult:
    """A scan node's value: per output ``(buffer, history rows, row of the last value)``, or
    ``(None, history rows, last value)`` for an output that kept only its last value."""

    __slots__ = ("buffers", "n_steps")
    dtype = np.dtype("float64")      # the bundle type's dtype and shape, for instrumented runs
    shape = (0,)
    ndim = 1

    def __init__(self, buffers: list[Any], n_steps: int) -> None:
        self.buffers = buffers
        self.n_steps = n_steps

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.zeros((0,), dtype="float64")


# ---- scan ----------------------------------------------------------------------------------


def _scan_infer(n_steps: TensorType, *outer: TensorType, spec: ScanSpec) -> TensorType:
    if n_steps.ndim != 0 or n_steps.dtype[0] not in "iu":
        raise TypeError(f"scan: n_steps must be an integer scalar, got {n_steps}")
    return BUNDLE_TYPE


def _scan_kernel(xp: Any, n_steps: Any, *arrays: Any, spec: ScanSpec) -> ScanResult:
    from symconv.backends import get_backend
    from symconv.config import config
    return spec.runner(get_backend(config.device if xp is not np else "cpu")).run(n_steps,
                                                                                 arrays)


def _scan_grad(seeds: list[Variable], out: Variable, *inputs: Variable,
               spec: ScanSpec) -> list[Variable | None]:
    from symconv.scan_module.grad import scan_grad
    return scan_grad(seeds, out, list(inputs), spec)


scan_op = Op("scan", _scan_infer, _scan_kernel, _scan_grad,
             doc="A loop: runs the inner graph of ``spec`` once per step (see symconv.scan).")
scan_op.sum_grads = list       # the gradient rule takes every output's seed, not their sum
scan_op.any_type = True       # non-sequences may be of any type (typed lists, sparse, generic)
scan_op.foldable = False       # never constant-folded: its value is not an array
scan_op.inner_outputs = lambda node: node.kw["spec"].inner_outputs   # for debugprint


def _adopt_mode(node: Any, mode: Any) -> tuple | None:
    """The params of a scan compiled by a function of ``mode``: a scan without a mode of its
    own compiles its step as the function that runs it (Theano: mode=None is "the mode of the
    entire function")."""
    spec = node.kw["spec"]
    return None if spec.mode is not None else (("spec", spec.with_mode(mode)),)


scan_op.adopt_mode = _adopt_mode

# ---- scan_out: one output of a scan -------------------------------------------------------

PARTS = ("seq", "full", "last")


def _bundle_spec(bundle: Variable) -> ScanSpec:
    if bundle.owner is None or bundle.owner.op is not scan_op:
        raise TypeError(f"scan_out: {bundle} is not the result of a scan node")
    return bundle.owner.kw["spec"]


def _scan_out_infer(bundle: Variable, index: int, part: str) -> TensorType:
    spec = _bundle_spec(bundle)
    row = spec.row_type(index)
    if part == "last":
        return row
    if part == "full" and not spec.taps[index]:
        part = "seq"
    return TensorType(row.dtype, (None,) + row.shape)


def _scan_out_kernel(xp: Any, result: ScanResult, index: int, part: str) -> Any:
    buf, history, last = result.buffers[index]
    if buf is None:   # only the last value was kept (``last`` is that value)
        if part != "last":
            raise RuntimeError(f"scan_out: output {index} kept only its last value")
        return xp.array(last, copy=True)
    if part == "seq":
        return buf[history:]
    if part == "full":
        return buf
    return buf[last].copy()


def _scan_out_grad(g: Variable, out: Variable, bundle: Variable, index: int,
                   part: str) -> list[Variable]:
    return [scan_seed(g, index=index, part=part)]


scan_out = Op("scan_out", _scan_out_infer, _scan_out_kernel, _scan_out_grad, infer_vars=True,
              doc="Output ``index`` of a scan: its steps ('seq'), with the initial rows "
                  "('full') or its last value ('last').")


def _seed_kernel(xp: Any, g: Any, index: int, part: str) -> Any:
    raise RuntimeError("scan_seed is a gradient marker and is never computed")


scan_seed = Op("scan_seed", lambda g, index, part: BUNDLE_TYPE, _seed_kernel, None,
               differentiable=False,
               doc="Marks the gradient ``g`` of output ``index`` of a scan for its grad rule.")
