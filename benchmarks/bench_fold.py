"""A/B of the compile-time folding rules (symconv/rewrites/fold.py) on the tutorial LeNet train
step: node counts, and process CPU time per call (BLAS pinned to one thread), the two
programs compiled in one process and called in alternating blocks.

Usage: ``python benchmarks/bench_fold.py [--batch 64] [--repeats 40] [--calls 5] [--out PATH]``.
Writes benchmarks/results/fold_lenet_cpu.json (machine, versions, date, load average).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
from symconv import rewrite  # noqa: E402
from symconv.bench.measure import cpu_model  # noqa: E402
from symconv.rewrites import fold  # noqa: E402
from lenet_peers import init_params, symconv_model  # noqa: E402

FOLD_RULES = {fold.drop_kept_reduced_axes, fold.sum_of_negation}


@contextlib.contextmanager
def without_fold_rules() -> Iterator[None]:
    """Compile as before the folding rules existed."""
    phase = rewrite._PHASES["canonicalize"]
    saved = list(phase.rules)
    phase.rules[:] = [r for r in saved if r[2] not in FOLD_RULES]
    try:
        yield
    finally:
        phase.rules[:] = saved


def cpu_per_call(fn, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "fold_lenet_cpu.json"))
    args = parser.parse_args()
    data = np.random.RandomState(1)
    x = data.rand(args.batch, 1, 28, 28).astype("float32")
    y = data.randint(0, 10, args.batch).astype("int32")
    with without_fold_rules():
        before, _, _ = symconv_model(init_params(np.random.RandomState(23455)))
    after, _, _ = symconv_model(init_params(np.random.RandomState(23455)))
    fns = {"without_fold": lambda: before(x, y), "with_fold": lambda: after(x, y)}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    with threadpool_limits(limits=1):
        blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture",
                                       "num_threads")} for i in threadpool_info()]
        for fn in fns.values():
            for _ in range(3):
                fn()
        names = list(fns)
        for r in range(args.repeats):
            for name in names[r % 2:] + names[:r % 2]:
                samples[name].append(cpu_per_call(fns[name], args.calls))
    nodes = {"without_fold": len(before.program.nodes), "with_fold": len(after.program.nodes)}
    results = [{"variant": k, "batch": args.batch, "nodes": nodes[k],
                "cpu_median_ms": round(1e3 * statistics.median(v), 3),
                "cpu_min_ms": round(1e3 * min(v), 3)} for k, v in samples.items()]
    report = {
        "benchmark": "fold_lenet_cpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_at_end": [round(v, 2) for v in os.getloadavg()],
                    "shared": "other agents ran tests on the same 2 cores (see load average)"},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__},
        "blas": blas,
        "method": f"process CPU time (time.process_time, BLAS limited to 1 thread), "
                  f"{args.repeats} alternating blocks of {args.calls} train-step calls after 3 "
                  f"warm-up calls each; median and min of per-call block means",
        "note": "variant without_fold compiles with rewrites/fold.py's rules switched off",
        "results": results,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
