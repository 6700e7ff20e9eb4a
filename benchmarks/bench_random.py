"""Speed of 10^7 uniform float32 draws: symconv's MRG_RandomStreams (Theano's numbers) against
NumPy's Generator.random and PyTorch's torch.rand (CPU), and the NumPy RandomStreams.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_random.py \
        [--n 10000000] [--repeat 7] [--json benchmarks/results/random_cpu.json]

Each figure is the median of interleaved calls after warm-up (symconv.bench.measure).
"""
from __future__ import annotations

import argparse
import datetime
import json

import numpy as np

import symconv
from symconv.bench.measure import environment, interleaved
from symconv.sandbox.rng_mrg import MRG_RandomStreams
from symconv.tensor.shared_randomstreams import RandomStreams


def _blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: row.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for row in threadpool_info()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10 ** 7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n = args.n
    mrg_fn = symconv.function([], MRG_RandomStreams(12345).uniform((n,), dtype="float32"))
    rs_fn = symconv.function([], RandomStreams(seed=1).uniform((n,), dtype="float32"))
    gen = np.random.default_rng(0)
    fns = {"symconv MRG_RandomStreams.uniform": mrg_fn,
           "symconv RandomStreams.uniform (NumPy RandomState)": rs_fn,
           "numpy Generator.random": lambda: gen.random(n, dtype=np.float32)}
    peers = []
    try:
        import torch
        torch.manual_seed(0)
        fns["torch.rand"] = lambda: torch.rand(n, dtype=torch.float32)
        peers.append("torch")
    except ImportError:
        pass
    timings = interleaved(fns, args.repeat, warmup=1)
    base = timings["numpy Generator.random"].median_ms
    print(f"{'uniform float32, n=' + str(n):52s} {'median ms':>10s} {'min ms':>8s} "
          f"{'vs numpy':>8s}")
    rows = []
    for name, t in timings.items():
        print(f"{name:52s} {t.median_ms:10.1f} {t.min_ms:8.1f} {t.median_ms / base:8.2f}")
        rows.append({"impl": name, "median_ms": round(t.median_ms, 2),
                     "min_ms": round(t.min_ms, 2), "ratio_to_numpy": round(t.median_ms / base, 2),
                     "samples": len(t.samples)})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "random uniform float32",
                       "what": f"one call drawing {n} float32 uniforms (compiled function for "
                               f"symconv: the draw plus the state update)",
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                           timespec="seconds"),
                       "note": "machine shared with other agents; see load_average_1m",
                       "environment": environment(peers), "blas": _blas_info(),
                       "results": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
