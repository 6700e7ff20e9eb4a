"""Compile time: graph build + T.grad + rewrites + lowering + first call, for the tutorial LeNet
training function and for MLPs of growing depth (how compile time scales with graph size).

    python benchmarks/bench_compile.py [--repeat 7] [--json benchmarks/results/compile_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

import symconv
import symconv.tensor as T
from symconv.bench import models
from symconv.bench.measure import environment


def _mlp_step(depth: int, width: int = 64) -> tuple[object, int]:
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.ivector("y")
    h, params, n_in = x, [], 784
    for i in range(depth):
        W = symconv.shared(rng.normal(0, 0.05, (n_in, width)).astype("float32"), f"W{i}")
        b = symconv.shared(np.zeros(width, "float32"), f"b{i}")
        h, n_in = T.tanh(T.dot(h, W) + b), width
        params += [W, b]
    W = symconv.shared(np.zeros((n_in, 10), "float32"), "Wout")
    p_y = T.nnet.softmax(T.dot(h, W))
    params.append(W)
    cost = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    f = symconv.function([x, y], cost, updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)])
    return f, len(f.program.nodes)


def _lenet_step() -> tuple[object, int]:
    params = models.as_shared(models.lenet_init(np.random.default_rng(0), "float32"))
    f = models.train_function("lenet", params)
    return f, len(f.program.nodes)


def _time(build, first_call, repeat: int) -> dict:
    times, nodes = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        f, nodes = build()
        first_call(f)
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(1e3 * statistics.median(times), 2),
            "min_ms": round(1e3 * min(times), 2), "scheduled_nodes": nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with symconv.config.change_flags(floatX="float32"):
        rng = np.random.default_rng(1)
        xm = rng.random((20, 784), dtype="float32")
        ym = rng.integers(0, 10, 20).astype("int32")
        xl = rng.random((64, 1, 28, 28), dtype="float32")
        rows = {"lenet train step": _time(_lenet_step, lambda f: f(xl, ym.repeat(4)[:64]),
                                          args.repeat)}
        for depth in (1, 5, 10, 20):
            rows[f"mlp train step, {depth} hidden layers"] = _time(
                lambda d=depth: _mlp_step(d), lambda f: f(xm, ym), args.repeat)
    print(f"{'graph':38s} {'median ms':>10s} {'min ms':>8s} {'nodes':>6s}")
    for name, row in rows.items():
        print(f"{name:38s} {row['median_ms']:10.1f} {row['min_ms']:8.1f} "
              f"{row['scheduled_nodes']:6d}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"benchmark": "compile",
                       "what": "graph build + grad + rewrites + lowering + first call",
                       "environment": environment([]),
                       "python": platform.python_version(),
                       "results": [{"graph": name, **row} for name, row in rows.items()]},
                      fh, indent=2)


if __name__ == "__main__":
    main()
