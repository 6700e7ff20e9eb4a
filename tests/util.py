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
                          devices: Sequence[str] = ("cpu", "cuda"), rtol: float | None = None
                          ) -> None:
    """Compile the same graph for each device and compare the results."""
    results = []
    for device in devices:
        with symconv.config.change_flags(device=device):
            results.append(symconv.function(list(inputs), outputs)(*values))
    ref = results[0]
    for other in results[1:]:
        for a, b in zip(np.atleast_1d(ref) if not isinstance(ref, list) else ref,
                        np.atleast_1d(other) if not isinstance(other, list) else other):
            tol = rtol or (1e-4 if np.asarray(a).dtype == np.float32 else 1e-10)
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=tol, atol=tol)
