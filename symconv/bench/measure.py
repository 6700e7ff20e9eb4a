"""Timing (interleaved, warmed up, auto-ranged) and the environment record of a benchmark run."""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Each timed sample runs the callable enough times to last at least this long, so that timer
# resolution and Python call overhead do not dominate sub-millisecond kernels.
MIN_SAMPLE_S = 0.005


@dataclass
class Timing:
    """Per-call times in seconds of one implementation of one case."""

    samples: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1e3

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1e3

    @property
    def spread(self) -> float:
        """Interquartile range over median (0 with fewer than 4 samples): how far apart the
        middle half of the samples lie, as a fraction of the typical time."""
        if len(self.samples) < 4:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return (q3 - q1) / statistics.median(self.samples)


# A ratio is flagged unstable when either side's spread exceeds this, or when the machine's
# 1-minute load average exceeds its core count (other processes then take turns on the cores).
UNSTABLE_SPREAD = 0.10


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def instability(a: Timing, b: Timing) -> str | None:
    """Why a ratio of ``a`` to ``b`` cannot be trusted, or None when it can."""
    reasons = []
    worst = max(a.spread, b.spread)
    if worst > UNSTABLE_SPREAD:
        reasons.append(f"spread {worst:.0%}")
    load, cores = load_average(), os.cpu_count() or 1
    if load is not None and load > cores:
        reasons.append(f"load average {load:.1f} on {cores} cores")
    return "; ".join(reasons) or None


def _calls_per_sample(fn: Callable[[], object]) -> int:
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(MIN_SAMPLE_S / max(once, 1e-9)))


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 2,
                blocks: int = 3, pause: float = 0.3) -> dict[str, Timing]:
    """Time every callable ``repeat`` times, in ``blocks`` alternating blocks per callable.

    Alternating (and rotating the order each block) spreads slow drifts such as CPU frequency
    changes or a busy neighbour evenly over all implementations, so their ratio stays fair.
    Before each block the process idles ``pause`` seconds and makes one untimed call: NumPy's
    BLAS, PyTorch's OpenMP and XLA each keep worker threads spinning for a while after a call,
    and on few cores those threads would otherwise steal time from the next library timed.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    number = {name: _calls_per_sample(fns[name]) for name in names}
    timings = {name: Timing() for name in names}
    blocks = max(1, min(blocks, repeat))
    for block in range(blocks):
        samples = repeat * (block + 1) // blocks - repeat * block // blocks
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            fn, n = fns[name], number[name]
            if pause and len(names) > 1:
                time.sleep(pause)
            fn()
            for _ in range(samples):
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                timings[name].samples.append((time.perf_counter() - start) / n)
    return timings


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001  (a broken optional install must not stop the benchmark)
        return None
    return getattr(mod, "__version__", "unknown")


def gpu_name() -> str | None:
    """The first CUDA GPU's name via CuPy (or PyTorch), None when there is none."""
    try:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001, S110  (no CuPy, no driver or no device: all mean no GPU)
        pass
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001, S110  (same for PyTorch)
        pass
    return None


def environment(peers: list[str]) -> dict:
    """What the figures depend on: CPU, threads, GPU and library versions."""
    import numpy

    import symconv
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {"symconv": symconv.__version__, "numpy": numpy.__version__,
                "cupy": _version("cupy")}
    for peer in peers:
        versions[peer] = _version(peer)
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": usable,
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        # Other processes competing for the cores distort every figure; record how busy it was.
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS", "SYMCONV_FLAGS")
                if k in os.environ},
    }
