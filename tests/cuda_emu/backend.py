"""The CuPy backend with the GPU emulated: NumPy arrays as device memory, kernels run by g++.

`EmulatedCudaBackend` is symconv's own ``CupyBackend`` (its lowerings, launch plans, argument
order, grid and block sizes, host/device split) with two things swapped: the array module is
NumPy, and ``kernel(name, source)`` returns the generated source compiled for the CPU by
`tests.cuda_emu.build`. So a graph compiled for it runs every generated kernel exactly as a GPU
run would launch it, and its results can be compared with the NumPy backend's.

Kernels are compiled in batches: `plan` runs thunks once in a collecting mode (each launch of a
kernel not built yet records its source and stops that call with `Pending`), builds everything
recorded in one go, then the real run finds every kernel ready. Graph-level runs prepare the
source catalog of their nodes instead (symconv/backends/cuda/catalog.py); a kernel a run asks
for that neither prepared is compiled alone and listed in ``unplanned``.
"""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from symconv.backends import cupy as cupy_backend
from symconv.backends.cupy import CupyBackend

from .build import Emulator


class Pending(Exception):
    """Raised by a launch in collecting mode: the kernel is recorded, not run."""


class _Handle:
    """What ``backend.kernel`` returns: resolves the compiled kernel at launch time."""

    def __init__(self, backend: "EmulatedCudaBackend", name: str, source: str) -> None:
        self.backend, self.name, self.source = backend, name, source

    def __call__(self, grid: Sequence[int], block: Sequence[int], args: Sequence[Any]) -> None:
        backend = self.backend
        emulator = backend.emulator
        if self.name not in emulator.kernels:
            if backend.collecting:
                backend.pending[self.name] = self.source
                raise Pending(self.name)
            backend.unplanned.add(self.name)
            emulator.prepare([(self.name, self.source)])
        emulator.kernels[self.name](grid, block, args)
        backend.launches[self.name] += 1


class EmulatedCudaBackend(CupyBackend):
    """device=cuda on the CPU: symconv's CuPy lowerings over NumPy arrays and g++ kernels."""

    def __init__(self, emulator: Emulator) -> None:
        device = SimpleNamespace(use=lambda: None)
        fake_cupy = SimpleNamespace(cuda=SimpleNamespace(Device=lambda index: device))
        load = cupy_backend.load_cupy
        cupy_backend.load_cupy = lambda name: (fake_cupy, 0)
        try:
            super().__init__("cuda")
        finally:
            cupy_backend.load_cupy = load
        self.xp = np
        self.emulator = emulator
        self.collecting = False
        self.pending: dict[str, str] = {}
        self.launches: Counter[str] = Counter()
        self.unplanned: set[str] = set()

    def kernel(self, name: str, source: str) -> _Handle:
        found = self._kernels.get(name)
        if found is None:
            found = self._kernels[name] = _Handle(self, name, source)
        return found

    def to_device(self, array: Any) -> Any:
        array = np.asarray(array)
        if array.ndim == 0 and array.dtype.kind in "biu":
            return array          # indices and sizes stay on the host, as on the GPU
        return array.copy()       # device memory is never the caller's buffer

    def to_host(self, array: Any) -> np.ndarray:
        return np.array(array)

    def prepare(self, sources: Iterable[tuple[str, str]]) -> None:
        """Compile these (name, source) pairs in batches before a run asks for them."""
        self.emulator.prepare(sources)

    def plan(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run ``calls`` once collecting the kernels they launch, build those together, then
        run them for real and return their results."""
        self.collecting, self.pending = True, {}
        try:
            for call in calls:
                try:
                    call()
                except Pending:
                    pass
        finally:
            self.collecting = False
        self.emulator.prepare(sorted(self.pending.items()))
        return [call() for call in calls]
