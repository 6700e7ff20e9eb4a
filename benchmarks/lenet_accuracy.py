"""Train the tutorial LeNet5 in symconv and in PyTorch from the same initial weights on the same
minibatches, and compare their errors: the test errors must agree within 0.5 points.

Usage: ``python benchmarks/lenet_accuracy.py [--data DIR] [--epochs 20] [--out PATH]``.
Default data: ../shared/datasets/mnist-10k (train 6000 / valid 2000 / test 2000), else the
sample shipped in symconv (split 60/20/20). Writes benchmarks/results/lenet_accuracy.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
from symconv import datasets  # noqa: E402
from lenet_peers import init_params, symconv_model, torch_model  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist-10k"
TOLERANCE_POINTS = 0.5


def load(data: str | None) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train, valid, test) as float32 (n, 1, 28, 28) in [0, 1] and int32 labels."""
    if data is None and DEFAULT_DATA.is_dir():
        data = str(DEFAULT_DATA)
    ds = datasets.load_mnist(data, download=False) if data else datasets.load_mnist_sample()
    n = len(ds)
    sizes = (6000, 2000, 2000) if n >= 10000 else (n * 6 // 10, n * 2 // 10, n * 2 // 10)
    splits = []
    for images, labels in ds.split(*sizes):
        x = (images.astype("float32") / 255.0).reshape(-1, 1, 28, 28)
        splits.append((x, labels.astype("int32")))
    return splits, str(ds.source)


def error(predict: Callable, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Percent of misclassified digits."""
    wrong = sum(int((np.asarray(predict(x[i:i + batch])) != y[i:i + batch]).sum())
                for i in range(0, len(y), batch))
    return 100.0 * wrong / len(y)


def train(peer: str, splits: list, epochs: int, batch: int, lr: float) -> dict:
    """Per-epoch validation errors, and the test error at the best validation epoch and at the
    end (the tutorial's early-stopping report), for one peer."""
    init = init_params(np.random.RandomState(23455))
    (xt, yt), (xv, yv), (xs, ys) = splits
    if peer == "symconv":
        step, predict, _ = symconv_model(init, lr)
        wrap_x, wrap_y = (lambda a: a), (lambda a: a)
    else:
        import torch
        step, t_predict, _ = torch_model(init, lr)
        wrap_x = torch.from_numpy
        wrap_y = lambda a: torch.from_numpy(a.astype("int64"))  # noqa: E731

        def predict(a: np.ndarray) -> np.ndarray:
            return t_predict(wrap_x(a)).numpy()
    valid, costs = [], []
    best = (np.inf, None, 0)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_cost = []
        for i in range(0, len(yt) - batch + 1, batch):   # full minibatches only, as the tutorial
            epoch_cost.append(float(step(wrap_x(xt[i:i + batch]), wrap_y(yt[i:i + batch]))))
        costs.append(float(np.mean(epoch_cost)))
        valid.append(error(predict, xv, yv, batch))
        if valid[-1] < best[0]:
            best = (valid[-1], error(predict, xs, ys, batch), epoch)
    return {"valid_error_per_epoch": valid, "train_cost_per_epoch": costs,
            "best_valid_error": best[0], "best_epoch": best[2], "test_error_at_best": best[1],
            "final_test_error": error(predict, xs, ys, batch),
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="directory with MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "lenet_accuracy.json"))
    args = parser.parse_args()
    splits, source = load(args.data)
    results = {}
    for peer in ("symconv", "torch"):
        try:
            results[peer] = train(peer, splits, args.epochs, args.batch_size, args.learning_rate)
        except ImportError:
            print("PyTorch is not installed: skipping the peer")
            continue
        r = results[peer]
        print(f"{peer}: valid {r['best_valid_error']:.2f}% (epoch {r['best_epoch']}), test "
              f"{r['test_error_at_best']:.2f}% at best valid, {r['final_test_error']:.2f}% "
              f"final, {r['seconds']} s", flush=True)
    rows = [{"peer": peer, **{k: v for k, v in r.items() if not k.endswith("_per_epoch")}}
            for peer, r in results.items()]
    report = {
        "benchmark": "lenet_accuracy",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__},
        "data": source, "sizes": [len(s[1]) for s in splits], "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "method": "tutorial LeNet5 (20/50 kernels, hidden 500), tutorial init from numpy "
                  "RandomState(23455), the same arrays and minibatch order for both peers; "
                  "errors in percent",
        "results": rows,
        "curves": {peer: {k: v for k, v in r.items() if k.endswith("_per_epoch")}
                   for peer, r in results.items()},
    }
    if "torch" in results:
        import torch
        report["versions"]["torch"] = torch.__version__
        diffs = {k: round(abs(results["symconv"][k] - results["torch"][k]), 3)
                 for k in ("test_error_at_best", "final_test_error")}
        agree = all(d <= TOLERANCE_POINTS for d in diffs.values())
        report["test_error_difference_points"] = diffs
        report["agree_within_0.5_points"] = agree
        report["note"] = (f"test error difference symconv vs PyTorch: {diffs['final_test_error']} "
                          f"points at the end, {diffs['test_error_at_best']} at the best "
                          f"validation epoch; within {TOLERANCE_POINTS}: {agree}")
        print(report["note"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
