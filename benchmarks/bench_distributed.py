"""Data-parallel LeNet on one machine: 1 process x 2 threads vs 2 MPI ranks x 1 thread, and the
time per step spent in communication with and without bucketing and overlap.

Usage: ``python benchmarks/bench_distributed.py [--rounds 3] [--steps 15] [--out PATH]``.
The driver launches workers (``--worker``), alone or under ``mpiexec -n 2``, in interleaved
rounds, and writes benchmarks/results/distributed_cpu.json. The tutorial LeNet5 (nkerns
20/50, hidden 500, float32) trains on a global minibatch of 500 (250 per rank on 2 ranks).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

GLOBAL_BATCH = 500
# label -> (ranks, threads per rank, bucket bytes, overlap, extra environment)
CONFIGS = {
    "1 process x 2 threads": (1, 2, 0, False, {}),
    "2 ranks x 1 thread, one allreduce per gradient": (2, 1, 0, False, {}),
    "2 ranks x 1 thread, bucketed (1 MiB), blocking": (2, 1, 1 << 20, False, {}),
    "2 ranks x 1 thread, bucketed (1 MiB) + overlap": (2, 1, 1 << 20, True, {}),
    "2 ranks x 1 thread, bucketed + overlap, polling thread (1 ms)":
        (2, 1, 1 << 20, True, {"BENCH_PROGRESS_S": "0.001"}),
    "2 ranks x 1 thread, bucketed + overlap, MPICH_ASYNC_PROGRESS=1":
        (2, 1, 1 << 20, True, {"MPICH_ASYNC_PROGRESS": "1"}),
}


def worker(args: argparse.Namespace) -> None:
    """Time ``args.steps`` training steps after a warm-up; rank 0 prints one JSON line."""
    import numpy as np
    from lenet import LeNetConvPoolLayer
    from logistic_sgd import LogisticRegression
    from mlp import HiddenLayer

    import symconv
    import symconv.tensor as T
    from symconv import distributed

    distributed.set_bucketing(bucket_bytes=args.bucket_bytes, overlap=args.overlap)
    dp = distributed.DataParallel(GLOBAL_BATCH, enabled=distributed.launched_by_mpi())
    distributed.set_progress(float(os.environ.get("BENCH_PROGRESS_S", "0")))
    b = dp.local_batch
    rng = np.random.RandomState(23455)
    data = np.random.RandomState(1)
    n_batches = 4
    images = data.rand(GLOBAL_BATCH * n_batches, 784).astype("float32")
    labels = data.randint(0, 10, GLOBAL_BATCH * n_batches).astype("int32")
    data_x, data_y = symconv.shared(images), symconv.shared(labels)
    index, x, y = T.lscalar(), T.matrix("x"), T.ivector("y")
    layer0 = LeNetConvPoolLayer(rng, x.reshape((b, 1, 28, 28)), image_shape=(b, 1, 28, 28),
                                filter_shape=(20, 1, 5, 5))
    layer1 = LeNetConvPoolLayer(rng, layer0.output, image_shape=(b, 20, 12, 12),
                                filter_shape=(50, 20, 5, 5))
    layer2 = HiddenLayer(rng, layer1.output.flatten(2), n_in=800, n_out=500, activation=T.tanh)
    layer3 = LogisticRegression(layer2.output, n_in=500, n_out=10)
    params = layer0.params + layer1.params + layer2.params + layer3.params
    dp.broadcast(params)
    cost = layer3.negative_log_likelihood(y)
    grads = dp.grad(cost, params)
    step = symconv.function([index], dp.mean(cost),
                            updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)],
                            givens={x: dp.minibatch(data_x, index),
                                    y: dp.minibatch(data_y, index)})
    for i in range(3):
        step(i % n_batches)
    stats = distributed.stats()
    distributed.barrier()
    stats.reset()
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        step(i % n_batches)
        times.append(time.perf_counter() - t0)
    report = {"step_ms": round(1e3 * statistics.median(times), 2),
              "comm_ms_per_step": round(1e3 * stats.blocked_s / args.steps, 3),
              "collectives_per_step": stats.calls / args.steps,
              "mbytes_per_step": round(stats.bytes / args.steps / 1e6, 3)}
    if dp.size > 1:   # the same reductions alone, after a barrier: no compute, little skew
        exchange = symconv.function([], [distributed.allreduce(p, "mean", p.get_value().nbytes)
                                         for p in params] + [dp.mean(cost.sum() * 0)],
                                    givens={x: dp.minibatch(data_x, 0),
                                            y: dp.minibatch(data_y, 0)})
        alone = []
        for _ in range(args.steps):
            distributed.barrier()
            t0 = time.perf_counter()
            exchange()
            alone.append(time.perf_counter() - t0)
        report["comm_alone_ms"] = round(1e3 * statistics.median(alone), 3)
        every = distributed.init().comm.allgather(report)
        report = {**every[0], "rank1_comm_ms_per_step": every[1]["comm_ms_per_step"],
                  "rank1_step_ms": every[1]["step_ms"]}
    if dp.is_root:
        try:
            from threadpoolctl import threadpool_info
            report["blas"] = [{k: lib.get(k) for k in ("internal_api", "architecture",
                                                       "num_threads", "version")}
                              for lib in threadpool_info()]
        except ImportError:
            report["blas"] = None
        print("RESULT " + json.dumps(report), flush=True)


def launch(label: str, steps: int, mpiexec: str) -> dict:
    ranks, threads, bucket_bytes, overlap, extra = CONFIGS[label]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=str(ROOT), SYMCONV_FLAGS="floatX=float32", **extra)
    command = [sys.executable, __file__, "--worker", "--steps", str(steps),
               "--bucket-bytes", str(bucket_bytes)] + (["--overlap"] if overlap else [])
    if ranks > 1:
        command = [mpiexec, "-n", str(ranks)] + command
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    line = next(v for v in out.stdout.splitlines() if v.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bucket-bytes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                              "distributed_cpu.json"))
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from symconv.bench.measure import environment
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("needs mpiexec: pip install mpi4py mpich")
    runs: dict[str, list[dict]] = {label: [] for label in CONFIGS}
    labels = list(CONFIGS)
    for r in range(args.rounds):     # interleaved, rotating the order every round
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            runs[label].append(launch(label, args.steps, mpiexec))
            print(label, json.dumps(runs[label][-1]), flush=True)
    results = []
    for label, samples in runs.items():
        ranks, threads, bucket_bytes, overlap, _ = CONFIGS[label]
        row = {"config": label, "ranks": ranks, "threads_per_rank": threads,
               "bucket_bytes": bucket_bytes, "overlap": overlap}
        for key in ("step_ms", "comm_ms_per_step", "comm_alone_ms", "collectives_per_step",
                    "mbytes_per_step"):
            if key in samples[0]:
                row[key] = statistics.median(s[key] for s in samples)
        row["examples_per_s"] = round(GLOBAL_BATCH / row["step_ms"] * 1e3, 1)
        results.append(row)
    report = {
        "benchmark": "distributed_cpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": environment([]),
        "loadavg_at_end": [round(v, 2) for v in os.getloadavg()],
        "blas": runs[labels[0]][0].get("blas"),
        "model": "tutorial LeNet5: nkerns (20, 50), hidden 500, float32, SGD lr 0.1; "
                 f"global minibatch {GLOBAL_BATCH} (split evenly over the ranks)",
        "method": f"{args.rounds} interleaved rounds of one launch per configuration; each "
                  f"launch: 3 warm-up steps, barrier, {args.steps} timed steps; medians. "
                  "comm_ms_per_step: rank 0's time inside blocking MPI_Allreduce and "
                  "MPI_Wait calls during the timed steps (packing is not counted; under load "
                  "most of it is waiting for the other rank). comm_alone_ms: the same "
                  "parameter-sized reductions compiled alone and run after a barrier (packing "
                  "and unpacking included), the transport's own cost. MPICH from "
                  "the mpich wheel, shared-memory transport; no async progress thread unless the "
                  "configuration says MPICH_ASYNC_PROGRESS=1.",
        "note": "the 2-core machine was shared with other agents (see load averages): "
                "absolute times are noisy; compare configurations within this file only",
        "results": results,
        "runs": {label: [{k: v for k, v in s.items() if k != "blas"} for s in samples]
                 for label, samples in runs.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
