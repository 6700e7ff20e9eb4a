"""Do the tutorial examples reach PyTorch's test error? Logistic regression and the MLP, same
recipe, same initial weights, same minibatch order, same early stopping, in both.

symconv runs ``examples/logistic_sgd.py`` and ``examples/mlp.py`` unchanged; the PyTorch side
is the same recipe written directly (float tensors, manual SGD). The test error reported is the
tutorials' own: measured on the test set at the epoch of the best validation error.
Usage: ``python benchmarks/tutorial_accuracy.py [--logistic-epochs 200] [--mlp-epochs 100]``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import logistic_sgd
import mlp
from tutorial_common import check_output, load_splits

import symconv

TOLERANCE_POINTS = 0.5


def early_stopping(train_step: Callable[[int], float], error: Callable[[str], float],
                   n_train_batches: int, epochs: int, patience: int) -> dict:
    """The tutorials' loop: validate once per epoch, extend patience on a clear improvement,
    measure the test error at each new best validation error."""
    patience_increase, improvement_threshold = 2, 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_valid, test_score, best_epoch, epoch = np.inf, 0.0, 0, 0
    valid_errors = []
    done = False
    while epoch < epochs and not done:
        epoch += 1
        for minibatch_index in range(n_train_batches):
            train_step(minibatch_index)
            iteration = (epoch - 1) * n_train_batches + minibatch_index
            if (iteration + 1) % validation_frequency == 0:
                valid = error("valid")
                if valid < best_valid:
                    if valid < best_valid * improvement_threshold:
                        patience = max(patience, iteration * patience_increase)
                    best_valid, best_epoch = valid, epoch
                    test_score = error("test")
            if patience <= iteration:
                done = True
                break
        valid_errors.append(float(valid))
    return {"epochs": epoch, "best_epoch": best_epoch, "best_validation_error": float(best_valid),
            "test_error": float(test_score), "valid_errors": valid_errors}


def torch_tutorial(kind: str, parts: list, epochs: int, floatx: str, seed: int,
                   batch_size: int) -> dict:
    """The logistic or MLP tutorial in PyTorch, weights initialised as the example does."""
    import torch
    dtype = getattr(torch, floatx)
    data = {name: (torch.from_numpy(x).to(dtype), torch.from_numpy(y).long())
            for name, (x, y) in zip(("train", "valid", "test"), parts)}
    if kind == "logistic":
        lr, l2, patience = 0.13, 0.0, 5000
        params = [torch.zeros(784, 10, dtype=dtype), torch.zeros(10, dtype=dtype)]
    else:
        lr, l2, patience = 0.01, 0.0001, 10000
        rng = np.random.RandomState(seed)  # drawn exactly as mlp.HiddenLayer draws them
        bound = np.sqrt(6. / (784 + 500))
        w_hidden = rng.uniform(low=-bound, high=bound, size=(784, 500)).astype(floatx)
        params = [torch.from_numpy(w_hidden), torch.zeros(500, dtype=dtype),
                  torch.zeros(500, 10, dtype=dtype), torch.zeros(10, dtype=dtype)]
    for p in params:
        p.requires_grad_(True)

    def logits(x: torch.Tensor) -> torch.Tensor:
        if kind == "logistic":
            return x @ params[0] + params[1]
        return torch.tanh(x @ params[0] + params[1]) @ params[2] + params[3]

    def train_step(i: int) -> float:
        x, y = (t[i * batch_size:(i + 1) * batch_size] for t in data["train"])
        cost = torch.nn.functional.cross_entropy(logits(x), y)
        if l2:
            cost = cost + l2 * ((params[0] ** 2).sum() + (params[2] ** 2).sum())
        grads = torch.autograd.grad(cost, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
        return float(cost.detach())

    def error(split_name: str) -> float:
        x, y = data[split_name]
        n = len(y) // batch_size  # whole minibatches only, as the tutorials' test_model does
        with torch.no_grad():
            errs = [(logits(x[i * batch_size:(i + 1) * batch_size]).argmax(1)
                     != y[i * batch_size:(i + 1) * batch_size]).to(torch.float64).mean().item()
                    for i in range(n)]
        return float(np.mean(errs))

    start = time.perf_counter()
    result = early_stopping(train_step, error, len(data["train"][1]) // batch_size, epochs,
                            patience)
    result["seconds"] = time.perf_counter() - start
    return result


def symconv_tutorial(kind: str, argv: list[str]) -> dict:
    """Run the example's main() quietly and return its summary."""
    module = logistic_sgd if kind == "logistic" else mlp
    with contextlib.redirect_stdout(io.StringIO()):
        summary = module.main(argv + ["--quiet"])
    return {k: summary[k] for k in ("epochs", "best_epoch", "best_validation_error",
                                    "test_error", "seconds", "valid_errors")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logistic-epochs", type=int, default=200)
    parser.add_argument("--mlp-epochs", type=int, default=100)
    parser.add_argument("--data", metavar="DIR", help="MNIST IDX folder (default as examples)")
    parser.add_argument("--floatX", default="float64", choices=["float32", "float64"])
    parser.add_argument("--symconv-only", action="store_true",
                        help="run only symconv's side (no PyTorch needed; no comparison)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                             / "tutorial_accuracy.json"))
    args = parser.parse_args()
    check_output("--out", args.out)
    if not args.symconv_only:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("tutorial_accuracy: PyTorch is not installed, so there is nothing to compare "
                  "with. Install the CPU build (pip install torch --index-url "
                  "https://download.pytorch.org/whl/cpu) or pass --symconv-only.",
                  file=sys.stderr)
            return 2
    symconv.config.floatX = args.floatX
    data = load_splits(args.data)
    parts = data.parts
    print(data.description, file=sys.stderr)
    smallest = min(len(y) for _, y in parts)
    batch_sizes = {"logistic": min(600, smallest), "mlp": min(20, smallest)}
    common = (["--data", args.data] if args.data else [])
    runs = []
    for kind, epochs in (("logistic", args.logistic_epochs), ("mlp", args.mlp_epochs)):
        batch = ["--batch-size", str(batch_sizes[kind])]
        print(f"{kind}: {epochs} epochs in symconv ...", file=sys.stderr, flush=True)
        ours = symconv_tutorial(kind, common + batch + ["--epochs", str(epochs)])
        if args.symconv_only:
            runs.append({"tutorial": kind, "epochs_requested": epochs,
                         "batch_size": batch_sizes[kind], "symconv": ours})
            print(f"{kind}: test error symconv {100 * ours['test_error']:.2f}% "
                  f"({ours['seconds']:.1f} s)")
            continue
        print(f"{kind}: {epochs} epochs in PyTorch ...", file=sys.stderr, flush=True)
        theirs = torch_tutorial(kind, parts, epochs, args.floatX, seed=1234,
                                batch_size=batch_sizes[kind])
        diff = 100 * abs(ours["test_error"] - theirs["test_error"])
        runs.append({"tutorial": kind, "epochs_requested": epochs,
                     "batch_size": batch_sizes[kind], "symconv": ours,
                     "torch": theirs, "test_error_difference_points": round(diff, 3),
                     "agree": diff <= TOLERANCE_POINTS})
        print(f"{kind}: test error symconv {100 * ours['test_error']:.2f}%  PyTorch "
              f"{100 * theirs['test_error']:.2f}%  difference {diff:.2f} points  "
              f"(time {ours['seconds']:.1f} s vs {theirs['seconds']:.1f} s)")
    if args.symconv_only:
        return 0
    import torch
    record = {
        "benchmark": "tutorial_accuracy",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data": {"source": data.description, "split": [len(p[1]) for p in parts]},
        "floatX": args.floatX,
        "tolerance_points": TOLERANCE_POINTS,
        "machine": {"cpu": platform.processor() or platform.machine(), "nproc": os.cpu_count(),
                    "python": platform.python_version()},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__,
                     "torch": torch.__version__},
        "note": "test_error: on the test set at the epoch of the best validation error "
                "(whole minibatches only, as in the tutorials)",
        "results": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["agree"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
