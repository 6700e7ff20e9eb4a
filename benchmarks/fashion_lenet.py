"""The tutorial LeNet on full Fashion-MNIST in symconv and in PyTorch: same initial weights, same
minibatch order, test error and wall time of each.

Data: the 70,000-image Fashion-MNIST (Debian's dataset-fashion-mnist in
/usr/share/datasets/fashion-mnist, ~/.cache/symconv/fashion-mnist, or downloaded with SHA-256
checks). Split as the tutorial splits MNIST: the first 50,000 training images train, the other
10,000 validate (early-stopping choice), the 10,000-image test file tests. The two frameworks
alternate epoch by epoch, so a change in the machine's load hits both alike.

Usage: ``python benchmarks/fashion_lenet.py [--epochs 20] [--limit N] [--out PATH]``.
Writes benchmarks/results/fashion_lenet.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
from symconv import datasets  # noqa: E402
from lenet_peers import init_params, symconv_model, torch_model  # noqa: E402

N_TRAIN = 50000


def load(limit: int | None) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train, valid, test): float32 (n, 1, 28, 28) in [0, 1] and int32 labels."""
    ds = datasets.load_mnist(kind="fashion-mnist")
    (train_x, train_y), (test_x, test_y) = ds.train, ds.test
    if limit:
        train_x, train_y, test_x, test_y = (train_x[:limit], train_y[:limit],
                                            test_x[:limit], test_y[:limit])
    n_train = min(N_TRAIN, len(train_y) * 5 // 6)
    parts = [(train_x[:n_train], train_y[:n_train]), (train_x[n_train:], train_y[n_train:]),
             (test_x, test_y)]
    return [((x.astype("float32") / 255).reshape(-1, 1, 28, 28), y.astype("int32"))
            for x, y in parts], str(ds.source)


def error(predict: Callable, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Percent misclassified, over whole minibatches (as the tutorial's test_model)."""
    n = len(y) // batch * batch
    wrong = sum(int((np.asarray(predict(x[i:i + batch])) != y[i:i + batch]).sum())
                for i in range(0, n, batch))
    return 100.0 * wrong / n


class Peer:
    """One framework's LeNet: a train step, a predictor and its running record."""

    def __init__(self, name: str, init: dict, lr: float) -> None:
        self.name = name
        if name == "symconv":
            self.step, self.predict, _ = symconv_model(init, lr)
            self.x: Callable[[np.ndarray], Any] = lambda a: a
            self.y: Callable[[np.ndarray], Any] = lambda a: a
        else:
            import torch
            step, predict, _ = torch_model(init, lr)
            self.step = step
            self.x = torch.from_numpy
            self.y = lambda a: torch.from_numpy(a.astype("int64"))
            self.predict = lambda a: predict(torch.from_numpy(a)).numpy()
        self.record: dict[str, Any] = {"valid_error_per_epoch": [], "train_cost_per_epoch": [],
                                       "train_seconds_per_epoch": [], "best_valid_error": None,
                                       "best_epoch": 0, "test_error_at_best": None}

    def epoch(self, parts: list, batch: int) -> None:
        (xt, yt), (xv, yv), (xs, ys) = parts
        start = time.perf_counter()
        costs = [float(self.step(self.x(xt[i:i + batch]), self.y(yt[i:i + batch])))
                 for i in range(0, len(yt) - batch + 1, batch)]
        r = self.record
        r["train_seconds_per_epoch"].append(round(time.perf_counter() - start, 2))
        r["train_cost_per_epoch"].append(float(np.mean(costs)))
        r["valid_error_per_epoch"].append(error(self.predict, xv, yv, batch))
        if r["best_valid_error"] is None or r["valid_error_per_epoch"][-1] < r["best_valid_error"]:
            r["best_valid_error"] = r["valid_error_per_epoch"][-1]
            r["best_epoch"] = len(r["valid_error_per_epoch"])
            r["test_error_at_best"] = error(self.predict, xs, ys, batch)
        r["wall_seconds"] = round(r.get("wall_seconds", 0) + time.perf_counter() - start, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs (default: the tutorial's convolutional run, 200, is far "
                             "beyond two CPU cores; 20)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--limit", type=int, help="first N images of each file only")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "fashion_lenet.json"))
    args = parser.parse_args()
    if not Path(args.out).resolve().parent.is_dir():
        raise SystemExit(f"--out {args.out}: folder does not exist")
    try:
        import torch
    except ImportError:
        raise SystemExit("needs PyTorch: pip install torch --index-url "
                         "https://download.pytorch.org/whl/cpu") from None
    parts, source = load(args.limit)
    print(f"data: Fashion-MNIST from {source}: " + " / ".join(
        f"{len(y):,} {name}" for name, (_, y) in zip(("train", "validation", "test"), parts)),
        flush=True)
    init = init_params(np.random.RandomState(23455))
    peers = [Peer("symconv", init, args.learning_rate), Peer("torch", init, args.learning_rate)]
    for epoch in range(1, args.epochs + 1):
        for peer in peers if epoch % 2 else peers[::-1]:  # alternate who goes first
            peer.epoch(parts, args.batch_size)
            r = peer.record
            print(f"epoch {epoch:2d} {peer.name:8s} cost {r['train_cost_per_epoch'][-1]:.4f}  "
                  f"valid {r['valid_error_per_epoch'][-1]:5.2f}%  train "
                  f"{r['train_seconds_per_epoch'][-1]:.1f} s", flush=True)
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report = {
        "benchmark": "fashion_lenet",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "nproc": os.cpu_count(), "load_average_at_end": load_avg,
                    "note": "shared with other agents' jobs during the run"},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__,
                     "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "data": source, "sizes": [len(p[1]) for p in parts], "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "floatX": "float32",
        "method": "tutorial LeNet5 (20/50 kernels 5x5, 2x2 max-pool, tanh 500, softmax), init "
                  "from numpy RandomState(23455) shared by both, the same minibatches in file "
                  "order, plain SGD; test error (percent, whole minibatches) at the epoch of the "
                  "best validation error; frameworks alternate epoch by epoch",
        "results": {p.name: p.record for p in peers},
    }
    ours, theirs = (p.record for p in peers)
    report["test_error_difference_points"] = round(
        abs(ours["test_error_at_best"] - theirs["test_error_at_best"]), 3)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"test error at best validation: symconv {ours['test_error_at_best']:.2f}% (epoch "
          f"{ours['best_epoch']}), PyTorch {theirs['test_error_at_best']:.2f}% (epoch "
          f"{theirs['best_epoch']}); wall time {ours['wall_seconds']:.0f} s vs "
          f"{theirs['wall_seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
