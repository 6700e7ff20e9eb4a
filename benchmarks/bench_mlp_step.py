"""Time the tutorial MLP (784-500-10, tanh, softmax NLL + L1 + L2, SGD) training step in symconv
against an identical PyTorch eager step, in one process, interleaved blocks, medians; and the
per-call overhead of a one-op function on a scalar.

Usage: ``python benchmarks/bench_mlp_step.py [--repeats N] [--batches 20 500] [--out PATH]``.
Writes benchmarks/results/mlp_step_cpu.json (machine, versions, date, medians, ratios).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
import symconv.tensor as T  # noqa: E402
from bench_lenet import time_peers  # noqa: E402

import torch  # noqa: E402

L1_REG, L2_REG, LR = 0.00, 0.0001, 0.01   # the tutorial's mlp.py defaults
SIZES = (784, 500, 10)


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_in, n_hidden, n_out = SIZES
    bound = np.sqrt(6.0 / (n_in + n_hidden))
    return {"W1": rng.uniform(-bound, bound, (n_in, n_hidden)).astype("float32"),
            "b1": np.zeros(n_hidden, "float32"),
            "W2": np.zeros((n_hidden, n_out), "float32"),
            "b2": np.zeros(n_out, "float32")}


def symconv_step(init: dict[str, np.ndarray]) -> symconv.Function:
    params = {k: symconv.shared(v.copy(), name=k) for k, v in init.items()}
    x, y = T.matrix("x", dtype="float32"), T.ivector("y")
    hidden = T.tanh(T.dot(x, params["W1"]) + params["b1"])
    p_y = T.nnet.softmax(T.dot(hidden, params["W2"]) + params["b2"])
    nll = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    l1 = abs(params["W1"]).sum() + abs(params["W2"]).sum()
    l2 = (params["W1"] ** 2).sum() + (params["W2"] ** 2).sum()
    cost = nll + L1_REG * l1 + L2_REG * l2
    grads = T.grad(cost, list(params.values()))
    updates = [(p, p - LR * g) for p, g in zip(params.values(), grads)]
    return symconv.function([x, y], cost, updates=updates)


def torch_step(init: dict[str, np.ndarray]):
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in init.items()}
    w1, b1, w2, b2 = params.values()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        hidden = torch.tanh(x @ w1 + b1)
        logits = hidden @ w2 + b2
        nll = torch.nn.functional.cross_entropy(logits, y)
        cost = nll + L1_REG * (w1.abs().sum() + w2.abs().sum()) + \
            L2_REG * ((w1 ** 2).sum() + (w2 ** 2).sum())
        for p in params.values():
            p.grad = None
        cost.backward()
        with torch.no_grad():
            for p in params.values():
                p -= LR * p.grad
        return cost.item()
    return step


def run(batches: list[int], repeats: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for batch in batches:
        init = init_params(rng)
        xs = rng.random((batch, SIZES[0])).astype("float32")
        ys = rng.integers(0, SIZES[2], batch).astype("int32")
        f, g = symconv_step(init), torch_step(init)
        xt, yt = torch.from_numpy(xs), torch.from_numpy(ys.astype("int64"))
        calls = max(5, 2000 // batch)
        res = time_peers({"symconv": lambda: f(xs, ys), "torch": lambda: g(xt, yt)},
                         repeats, calls)
        rows.append({"case": f"mlp_step_b{batch}", "batch": batch,
                     "symconv_ms": res["symconv"]["median_ms"],
                     "torch_ms": res["torch"]["median_ms"],
                     "ratio": round(res["symconv"]["median_ms"] / res["torch"]["median_ms"], 3)})
        print(rows[-1], flush=True)
    s = T.scalar("s", dtype="float32")
    one = symconv.function([s], s + 1)
    ts = torch.tensor(1.0)
    value = np.float32(1.0)
    res = time_peers({"symconv": lambda: one(value), "torch": lambda: ts + 1}, repeats, 2000)
    rows.append({"case": "scalar_one_op_overhead", "symconv_us": round(
        1e3 * res["symconv"]["median_ms"], 2), "torch_us": round(1e3 * res["torch"]["median_ms"],
                                                                 2)})
    print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[20, 500])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                              "mlp_step_cpu.json"))
    args = parser.parse_args()
    rows = run(args.batches, args.repeats)
    result = {"benchmark": "tutorial MLP SGD step, float32",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
              "versions": {"python": platform.python_version(), "numpy": np.__version__,
                           "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
              "method": "alternating timed blocks after a warm-up and an idle pause; medians",
              "note": "both run the tutorial's cost as written (L1 weight 0.00, L2 0.0001); "
                      "symconv's rewrites drop the zero-weighted L1 term and its sign() "
                      "gradient, PyTorch eager computes them",
              "results": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
