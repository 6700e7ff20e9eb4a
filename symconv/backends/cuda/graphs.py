"""Experimental: replay a compiled function's kernels as CUDA graphs, segment by segment.

CuPy refuses cuBLAS inside stream capture, so the schedule is cut at GEMM nodes (dot, conv):
each run of other nodes is captured once per input signature and replayed with one launch;
GEMM nodes run eagerly and copy their result into the buffer the next captured segment reads.
Buffers captured into a graph must keep their addresses, so a capture owns every array it
produced, inputs are copied into its input buffers, and updated shared values are written back
into the captured shared buffers (the shared variables then keep pointing at them).

Limits (why this is opt-in and measured in benchmarks/bench_gpu.py before becoming default):
host scalar inputs (minibatch indices) are part of the signature, so each distinct index is a
capture (at most ``max_captures`` are kept); a segment whose capture fails (a host sync, an
allocation the pool cannot serve) runs eagerly; an update that reads another update's target
after it was written is not supported.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any



class _Capture:
    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self.graphs: list[Any] = []      # per segment: a CUDA graph, or None (runs eagerly)


class GraphedFunction:
    """Call ``fn`` (a symconv Function compiled for device=cuda) through CUDA graphs."""

    def __init__(self, fn: Any, max_captures: int = 4) -> None:
        program = fn.program
        self.fn, self.program = fn, program
        self.backend = program.backend
        self.cp = self.backend.xp
        self.stream = self.cp.cuda.Stream(non_blocking=True)
        self.max_captures = max_captures
        self.captures: OrderedDict[tuple, _Capture] = OrderedDict()
        names = program.names
        self.calls = [(f"v{n}", thunk, [names[id(i)] for i in node.inputs])
                      for n, (node, thunk) in enumerate(zip(program.nodes, program.thunks))]
        self.segments: list[tuple[bool, list[int]]] = []
        for n, node in enumerate(program.nodes):
            gemm = node.op.gemm
            if self.segments and self.segments[-1][0] == (not gemm):
                self.segments[-1][1].append(n)
            else:
                self.segments.append((not gemm, [n]))
        self.in_names = [names[id(v)] for v in program.inputs]
        self.out_names = [names[id(v)] for v in program.outputs]
        self.up_names = [names[id(v)] for v in program.updates]
        self.host_shared = any(c.backend.is_host for c in fn.shared_containers)

    def _key(self, args: list[Any], shared: list[Any]) -> tuple:
        cp = self.cp
        return tuple((a.shape, a.dtype.str) if isinstance(a, cp.ndarray) else a.item()
                     for a in args + shared)

    def __call__(self, *args: Any) -> Any:
        fn, cp = self.fn, self.cp
        if self.host_shared:
            return fn(*args)
        values = [self.backend.to_device(spec.check(a)) if not isinstance(a, cp.ndarray) else a
                  for spec, a in zip(fn.input_specs, args)]
        shared = [c.value for c in fn.shared_containers]
        key = self._key(values, shared)
        with self.stream:
            capture = self.captures.get(key)
            if capture is None:
                fn.run_program(values)           # warm-up: compiles kernels, fills the pool
                capture = self._capture(values, shared)
                self.captures[key] = capture
                if len(self.captures) > self.max_captures:
                    self.captures.popitem(last=False)
            else:
                self._replay(capture, values, shared)
            outs = tuple(capture.env[name] for name in self.out_names)
            ups = [capture.env[name] for name in self.up_names]
            for container, value in zip(fn.update_containers, ups):
                target = capture.env[self._shared_name(container)]
                if value is not target:
                    cp.copyto(target, value)
                container.value = target
        self.stream.synchronize()
        return fn.format_outputs(outs)

    def _shared_name(self, container: Any) -> str:
        return f"s{self.fn.shared_containers.index(container)}"

    def _seed(self, env: dict[str, Any], values: list[Any], shared: list[Any]) -> None:
        env.update(self.program.env)
        env.update(zip(self.in_names, values))
        env.update((f"s{i}", v) for i, v in enumerate(shared))

    def _run_nodes(self, env: dict[str, Any], nodes: list[int]) -> None:
        for n in nodes:
            name, thunk, inputs = self.calls[n]
            env[name] = thunk(*[env[i] for i in inputs])

    def _capture(self, values: list[Any], shared: list[Any]) -> _Capture:
        capture = _Capture()
        env = capture.env
        # the capture owns copies of the inputs: later calls copy into these addresses
        self._seed(env, [v.copy() if isinstance(v, self.cp.ndarray) else v for v in values],
                   shared)
        for capturable, nodes in self.segments:
            graph = None
            if capturable:
                try:
                    self.stream.begin_capture()
                    try:
                        self._run_nodes(env, nodes)
                    finally:
                        graph = self.stream.end_capture()
                    graph.launch(self.stream)
                except Exception:   # not capturable (host sync, allocation): run it eagerly
                    graph = None
                    self._run_nodes(env, nodes)
            else:
                self._run_nodes(env, nodes)
            capture.graphs.append(graph)
        return capture

    def _replay(self, capture: _Capture, values: list[Any], shared: list[Any]) -> None:
        cp, env = self.cp, capture.env
        for name, value in zip(self.in_names, values):
            if isinstance(value, cp.ndarray) and value is not env[name]:
                cp.copyto(env[name], value)
        for i, value in enumerate(shared):
            if value is not env[f"s{i}"]:
                cp.copyto(env[f"s{i}"], value)
        for (capturable, nodes), graph in zip(self.segments, capture.graphs):
            if graph is not None:
                graph.launch(self.stream)
                continue
            for n in nodes:   # eager: results land in the buffers later graphs read
                name, thunk, inputs = self.calls[n]
                result = thunk(*[env[i] for i in inputs])
                if isinstance(result, cp.ndarray) and isinstance(env.get(name), cp.ndarray):
                    cp.copyto(env[name], result)
                else:
                    env[name] = result
