"""Run symconv's generated CUDA kernels on the CPU: an emulation header (cuda_emu.h), a g++
build of the sources (build.py) and the CuPy backend over NumPy arrays (backend.py).

One backend per test process (`emulated_backend`), so kernels compiled by one test module are
reused by the next; `catalogued` collects the catalog's sources for every node the tests ran,
for the executed-vs-compile-only report.
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from typing import Iterable

_STATE: dict = {}
FAMILIES = ("ew", "sum", "prod", "max", "min", "argmax", "argmin", "any", "all", "softmax",
            "logsoftmax", "xent", "xent_grad", "pool", "pool_grad", "im2col", "col2im")


def available() -> str | None:
    """None when kernels can be emulated here, else why not."""
    if shutil.which("g++") is None:
        return "no g++ on PATH to compile the generated kernels for the CPU"
    return None


def emulated_backend():
    """The process-wide EmulatedCudaBackend (created on first use)."""
    if "backend" not in _STATE:
        from .backend import EmulatedCudaBackend
        from .build import Emulator
        _STATE["backend"] = EmulatedCudaBackend(Emulator())
        _STATE["catalogued"] = set()
    return _STATE["backend"]


def catalogued(names: Iterable[str]) -> None:
    """Record catalog kernels (every variant a GPU run of the tested nodes could request)."""
    emulated_backend()
    _STATE["catalogued"].update(names)


def family(name: str) -> str:
    """The kernel family of a generated kernel name (sc_<family>_<hash>)."""
    match = re.fullmatch(r"sc_(\w+?)_[0-9a-f]{16}", name)
    return match.group(1) if match else "?"


def report() -> tuple[str, Counter, Counter]:
    """A text table of executed and compile-only kernels per family, and the two counters."""
    backend = emulated_backend()
    executed = {n for n in backend.launches if "_mutant" not in n}
    compile_only = {n for n in _STATE["catalogued"] if "_mutant" not in n} - executed
    ran = Counter(family(n) for n in executed)
    only = Counter(family(n) for n in compile_only)
    lines = [f"{'family':12s} {'executed':>9s} {'compile-only':>13s}"]
    for fam in sorted(set(ran) | set(only), key=lambda f: (FAMILIES + (f,)).index(f)):
        lines.append(f"{fam:12s} {ran[fam]:9d} {only[fam]:13d}")
    lines.append(f"{'total':12s} {sum(ran.values()):9d} {sum(only.values()):13d}")
    emulator = backend.emulator
    lines.append(f"g++ this run: {emulator.compiled} kernels in {emulator.libraries} libraries "
                 f"(the rest from the cache in {emulator.cache_dir})")
    missing = executed - _STATE["catalogued"]
    if missing:
        lines.append(f"executed but missing from the catalog: {len(missing)} "
                     f"({', '.join(sorted(missing)[:5])}{', ...' if len(missing) > 5 else ''})")
    return "\n".join(lines), ran, only
