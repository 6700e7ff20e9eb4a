"""Test helpers: compile-and-run, gradient checks, and backend agreement."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import symconv
from symconv.gradient import verify_grad


def run(inputs: Sequence[Any], outputs: Any, values: Sequence[Any], **kwargs: Any) -> Any:
    """Compile with type checks on every node (kernel results must match inferred types)."""
    return symconv.function(list(inputs), outputs, mode="DebugMode", **kwargs)(*values)


def check_grad(fn: Callable, pt: Sequence[np.ndarray], **kwargs: Any) -> None:
    """verify_grad in float64 with a fixed RNG."""
    pt = [np.asarray(p, dtype="float64") for p in pt]
    verify_grad(fn, pt, rng=np.random.default_rng(7), **kwargs)


def assert_backends_agree(inputs: Sequence[Any], outputs: Any, values: Sequence[Any],
                          devices: Sequence[str] = ("cpu",), rtol: float | None = None,
                          atol: float | None = None) -> set:
    """Compile the graph for the first device and run its schedule node by node: every bound
    thunk (a backend override where one exists) against the op's generic kernel on the same
    input arrays, dtype, shape and values. With several devices (e.g. ("cpu", "cuda")) the
    compiled functions' results are compared too. Returns the ops whose override was checked.
    """
    with symconv.config.change_flags(device=devices[0]):
        fn = symconv.function(list(inputs), outputs, on_unused_input="ignore")
    program, backend = fn.program, fn.program.backend
    env = {id(v): backend.to_device(spec.check(x))
           for v, spec, x in zip(program.inputs, fn.input_specs, values)}
    env.update((id(v), c.value) for v, c in zip(program.shared, fn.shared_containers))
    overridden = set()
    for node, thunk in zip(program.nodes, program.thunks):
        args = [env[id(i)] if id(i) in env else backend.to_device(i.data) for i in node.inputs]
        got = thunk(*args)
        want = node.op.kernel(backend.xp, *args, **node.kw)
        _assert_close(backend.to_host(got), backend.to_host(want), rtol, atol, f"{node}")
        if node.op in backend.lowerings:
            overridden.add(node.op)
        env[id(node.out)] = got
    results = [fn(*values)]
    for device in devices[1:]:
        with symconv.config.change_flags(device=device):
            results.append(symconv.function(list(inputs), outputs,
                                            on_unused_input="ignore")(*values))
    for other in results[1:]:
        for a, b in zip(_as_list(results[0]), _as_list(other)):
            _assert_close(np.asarray(b), np.asarray(a), rtol, atol, "function result")
    return overridden


def _as_list(result: Any) -> list:
    return result if isinstance(result, list) else [result]


def _assert_close(got: np.ndarray, want: np.ndarray, rtol: float | None, atol: float | None,
                  what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    tol = rtol or {"float16": 1e-2, "float32": 1e-4}.get(got.dtype.name, 1e-10)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol if atol is None else atol,
                               err_msg=what)
