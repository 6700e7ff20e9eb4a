"""Time the tutorial LeNet5 (nkerns 20/50, hidden 500, float32) training step and inference in
symconv against an identical PyTorch eager model, in one process, in alternating blocks after an
idle pause, medians; plus the latency of one-image inference.

Usage: ``python benchmarks/bench_lenet.py [--repeats N] [--batches 64 500] [--latency-batches 1]
[--out PATH]``. Run it with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` (as a user's machine
has them) on a quiet machine. Writes benchmarks/results/lenet_cpu.json (machine, load average,
the BLAS kernel threadpoolctl reports, versions, date, per-case medians and ratios).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
from symconv.bench.measure import cpu_model  # noqa: E402
from lenet_peers import init_params, symconv_model, torch_model  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

# Longer than OpenBLAS and OpenMP worker threads keep spinning after a call, so one peer's idle
# spinning threads do not steal the cores from the other's next block.
PAUSE_S = 0.3


def _block(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def time_peers(fns: dict[str, Callable[[], object]], repeats: int, calls: int) -> dict:
    """Per-call medians (ms) of every callable, timed in alternating blocks after a warm-up."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % 2:] + names[:r % 2]:
            time.sleep(PAUSE_S)
            samples[name].append(_block(fns[name], calls))
    return {name: {"median_ms": round(1e3 * statistics.median(s), 3),
                   "min_ms": round(1e3 * min(s), 3)} for name, s in samples.items()}


def blas_info() -> list[dict]:
    """Which BLAS (and OpenMP) libraries are loaded and the kernel OpenBLAS picked."""
    from threadpoolctl import threadpool_info
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]


def run(batches: list[int], repeats: int, latency_batches: list[int] = ()) -> list[dict]:
    results = []
    for batch in list(batches) + [b for b in latency_batches if b not in batches]:
        latency_only = batch not in batches
        init = init_params(np.random.RandomState(23455))
        data = np.random.RandomState(1)
        x = data.rand(batch, 1, 28, 28).astype("float32")
        y = data.randint(0, 10, batch).astype("int32")
        train, predict, _ = symconv_model(init)
        cases = {"train step": {"symconv": lambda: train(x, y)},
                 "inference": {"symconv": lambda: predict(x)}}
        if torch is not None:
            t_train, t_predict, _ = torch_model(init)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype("int64"))
            cases["train step"]["torch"] = lambda: t_train(tx, ty)
            cases["inference"]["torch"] = lambda: t_predict(tx)
        if latency_only:   # one image at a time: the per-call overhead of each framework
            cases = {"inference latency": cases["inference"]}
        calls = 3 if batch >= 256 else 10 if batch >= 16 else 50
        for case, fns in cases.items():
            timing = time_peers(fns, repeats, calls)
            row = {"batch": batch, "case": case,
                   **{f"{k}_ms": v["median_ms"] for k, v in timing.items()},
                   **{f"{k}_min_ms": v["min_ms"] for k, v in timing.items()}}
            if "torch" in timing:
                row["ratio"] = round(timing["symconv"]["median_ms"] /
                                     timing["torch"]["median_ms"], 3)
            print(json.dumps(row), flush=True)
            results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 500])
    parser.add_argument("--latency-batches", type=int, nargs="*", default=[1],
                        help="batch sizes timed for inference only (latency)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "lenet_cpu.json"))
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    results = run(args.batches, args.repeats, args.latency_batches)
    report = {
        "benchmark": "lenet_cpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "loadavg_at_start": load_at_start,
                    "loadavg_at_end": [round(v, 2) for v in os.getloadavg()]},
        "blas": blas_info(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__,
                     "torch": None if torch is None else torch.__version__},
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "dtype": "float32",
        "model": "tutorial LeNet5: nkerns (20, 50), hidden 500, 10 classes, SGD lr 0.1",
        "repeats": args.repeats,
        "method": "one process; alternating blocks per peer with a 0.3 s pause; 3 warm-up calls; "
                  "median of per-call block means (blocks of 10 calls, 3 at batch >= 256, 50 "
                  "for the batch-1 latency)",
        "note": "ratio = symconv / torch median time; <= 1 means symconv is at least as fast",
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
