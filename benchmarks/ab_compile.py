"""Compile-time A/B of two symconv source trees: CPU time of graph build + T.grad + function.

    python benchmarks/ab_compile.py --a /path/to/main --b . [--rounds 8] [--repeat 5]
        [--json benchmarks/results/grad_pure_compile_ab.json]

Each round runs one worker process per tree (PYTHONPATH=tree), alternating which goes first;
a worker pins BLAS to one thread, builds each graph once to warm up, then times ``--repeat``
builds with ``time.process_time`` (no call). Shared machines: compare ratios, not absolutes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODES = ("FAST_RUN", "FAST_COMPILE")


def _mlp(depth: int, width: int = 64) -> object:
    import numpy as np

    import symconv
    import symconv.tensor as T
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.ivector("y")
    h, params, n_in = x, [], 784
    for i in range(depth):
        W = symconv.shared(rng.normal(0, 0.05, (n_in, width)).astype("float32"), f"W{i}")
        b = symconv.shared(np.zeros(width, "float32"), f"b{i}")
        h, n_in = T.tanh(T.dot(h, W) + b), width
        params += [W, b]
    W = symconv.shared(np.zeros((n_in, 10), "float32"), "Wout")
    params.append(W)
    cost = -T.mean(T.log(T.nnet.softmax(T.dot(h, W)))[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    return symconv.function([x, y], cost, updates=[(p, p - 0.1 * g)
                                                   for p, g in zip(params, grads)])


def _lenet() -> object:
    import numpy as np

    from symconv.bench import models
    return models.train_function(
        "lenet", models.as_shared(models.lenet_init(np.random.default_rng(0), "float32")))


def _real_example() -> object:
    # Theano's doc/tutorial/examples.txt, "A Real Example"
    import numpy as np

    import symconv
    import symconv.tensor as T
    rng = np.random.RandomState(0)
    x, y = T.matrix("x"), T.vector("y")
    w = symconv.shared(rng.randn(784).astype("float32"), name="w")
    b = symconv.shared(np.float32(0), name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    gw, gb = T.grad(xent.mean() + 0.01 * (w ** 2).sum(), [w, b])
    return symconv.function([x, y], [p_1 > 0.5, xent],
                            updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))


CASES = {"lenet": _lenet, "mlp1": lambda: _mlp(1), "mlp5": lambda: _mlp(5),
         "mlp20": lambda: _mlp(20), "real_example": _real_example}


def worker(repeat: int) -> None:
    """Time every case in every mode in this process; print one JSON line."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    import symconv
    out: dict = {}
    for mode in MODES:
        with symconv.config.change_flags(floatX="float32", mode=mode):
            for name, build in CASES.items():
                build()
                times = []
                for _ in range(repeat):
                    t0 = time.process_time()
                    f = build()
                    times.append(time.process_time() - t0)
                out.setdefault(mode, {})[name] = {"times": times,
                                                  "nodes": len(f.program.nodes)}
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="source tree A (e.g. main)")
    parser.add_argument("--b", required=True, help="source tree B (e.g. a branch)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    trees = {"a": os.path.abspath(args.a), "b": os.path.abspath(args.b)}
    samples: dict = {}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for side in ("a", "b") if r % 2 == 0 else ("b", "a"):
            env = dict(os.environ, PYTHONPATH=trees[side])
            text = subprocess.run([sys.executable, __file__, "--a", ".", "--b", ".",
                                   "--worker", str(args.repeat)], env=env, check=True,
                                  capture_output=True, text=True).stdout
            for mode, cases in json.loads(text).items():
                for name, d in cases.items():
                    row = samples.setdefault((mode, name), {}).setdefault(
                        side, {"times": [], "nodes": d["nodes"]})
                    row["times"] += d["times"]
            loads.append(os.getloadavg()[0])
    rows = []
    for (mode, name), by in samples.items():
        row = {"mode": mode, "graph": name}
        for side in ("a", "b"):
            row[f"{side} min ms"] = round(1e3 * min(by[side]["times"]), 2)
            row[f"{side} median ms"] = round(1e3 * statistics.median(by[side]["times"]), 2)
            row[f"{side} nodes"] = by[side]["nodes"]
        row["median ratio"] = round(row["b median ms"] / row["a median ms"], 3)
        row["min ratio"] = round(row["b min ms"] / row["a min ms"], 3)
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()))
    if args.json:
        from threadpoolctl import threadpool_info

        from symconv.bench.measure import environment
        env = environment([])
        env["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture")}
                       for i in threadpool_info()]
        record = {"benchmark": "ab_compile", "trees": trees,
                  "method": __doc__.split("\n\n")[1].replace("\n", " "),
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "environment": env, "results": rows,
                  "note": f"load average (1 min) during the run: {min(loads):.2f}-"
                          f"{max(loads):.2f}; other processes may share the cores"}
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
