"""Did moving BLAS thread control to threadpoolctl keep the measured behaviour?

Times, interleaved, (1) entering and leaving ``blas.num_threads(1)`` and (2) one SGD step of
the tutorial LeNet, once with symconv's threadpoolctl-based ``backends/blas.py`` and once with
the ctypes + /proc/self/maps version it replaced (read from git: ``--old-commit``).
Usage: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_blas_threads.py``.
Writes benchmarks/results/blas_threads_cpu.json.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import symconv  # noqa: E402
from symconv.backends import blas, numpy_cnn, numpy_conv  # noqa: E402
from symconv.bench import models  # noqa: E402


def old_module(commit: str):
    """symconv/backends/blas.py as it was at ``commit``, imported under another name."""
    source = subprocess.run(["git", "show", f"{commit}:symconv/backends/blas.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "blas_ctypes.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("blas_ctypes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use(module) -> None:
    numpy_conv.blas = module
    numpy_cnn.blas = module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-commit", default="9b7a155")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                             / "blas_threads_cpu.json"))
    args = parser.parse_args()
    versions = {"ctypes": old_module(args.old_commit), "threadpoolctl": blas}
    with symconv.config.change_flags(floatX="float32"):
        rng = np.random.default_rng(0)
        params = models.as_shared(models.lenet_init(rng, "float32"))
        step = models.train_function("lenet", params, 0.01)
        x = rng.random((args.batch, 1, 28, 28), dtype="float32")
        y = rng.integers(0, 10, args.batch).astype("int32")
        step(x, y)
        samples: dict[str, dict[str, list[float]]] = {k: {"enter_exit_us": [], "step_ms": []}
                                                      for k in versions}
        for _ in range(args.repeat):
            for name, module in versions.items():  # interleaved
                use(module)
                start = time.perf_counter()
                for _ in range(2000):
                    with module.num_threads(1):
                        pass
                samples[name]["enter_exit_us"].append((time.perf_counter() - start) / 2000 * 1e6)
                step(x, y)
                start = time.perf_counter()
                for _ in range(5):
                    step(x, y)
                samples[name]["step_ms"].append((time.perf_counter() - start) / 5 * 1e3)
        use(blas)
    summary = [{"blas control": name,
                **{f"{key} {stat}": round(fn(v), 3) for key, v in s.items()
                   for stat, fn in (("median", statistics.median), ("min", min), ("max", max))}}
               for name, s in samples.items()]
    from threadpoolctl import threadpool_info
    record = {
        "benchmark": "blas_threads",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": platform.processor() or platform.machine(), "nproc": os.cpu_count(),
                    "load_average": os.getloadavg()[0],
                    "note": "shared with other agents' jobs while measured"},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture",
                                        "num_threads")} for i in threadpool_info()],
        "method": f"interleaved x{args.repeat}: 2000 enter/exit of num_threads(1); 5 LeNet "
                  f"float32 SGD steps at batch {args.batch} (after one untimed)",
        "results": summary,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    for s in summary:
        print(f"{s['blas control']:14s} enter/exit {s['enter_exit_us median']:7.2f} us   LeNet "
              f"step {s['step_ms median']:8.2f} ms (min {s['step_ms min']:.2f}, max "
              f"{s['step_ms max']:.2f})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
