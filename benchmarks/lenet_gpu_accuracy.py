"""Train the tutorial LeNet5 with symconv on device=cuda and on device=cpu from the same start
and minibatches; the GPU's test error must match the CPU's within 0.5 points.

Usage: ``python benchmarks/lenet_gpu_accuracy.py [--data DIR] [--epochs N] [--batch-size B]
[--out PATH]``. Default data: the MNIST sample shipped in symconv/data (2,000 digits, split
60/20/20; batch 50), or an IDX directory such as the 10k sample (batch 500). Exits 1 when the
errors differ by more than the tolerance. Part of benchmarks/gpu_check.sh.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import symconv  # noqa: E402
from lenet_accuracy import TOLERANCE_POINTS, load, train  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="directory with MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 500 for 10,000 digits or more, else 50")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "lenet_gpu_accuracy.json"))
    args = parser.parse_args()
    splits, source = load(args.data)
    batch = args.batch_size or (500 if len(splits[0][1]) >= 6000 else 50)
    results = {}
    for device in ("cuda", "cpu"):   # the GPU first: a missing device fails before the CPU run
        with symconv.change_flags(device=device, floatX="float32"):
            results[device] = train("symconv", splits, args.epochs, batch, args.learning_rate)
        r = results[device]
        print(f"{device}: test error {r['final_test_error']:.2f}% (valid "
              f"{r['valid_error_per_epoch'][-1]:.2f}%), final train cost "
              f"{r['train_cost_per_epoch'][-1]:.5f}, {r['seconds']} s", flush=True)
    diff = abs(results["cuda"]["final_test_error"] - results["cpu"]["final_test_error"])
    cost_diff = max(abs(a - b) for a, b in zip(results["cuda"]["train_cost_per_epoch"],
                                               results["cpu"]["train_cost_per_epoch"]))
    agree = diff <= TOLERANCE_POINTS
    print(f"difference: {diff:.2f} points of test error (tolerance {TOLERANCE_POINTS}), "
          f"largest per-epoch train-cost difference {cost_diff:.2e}: "
          f"{'agree' if agree else 'DISAGREE'}")
    report = {
        "benchmark": "lenet_gpu_accuracy",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "versions": {"symconv": symconv.__version__, "numpy": np.__version__},
        "data": source, "sizes": [len(s[1]) for s in splits], "epochs": args.epochs,
        "batch_size": batch, "learning_rate": args.learning_rate,
        "method": "tutorial LeNet5, init from numpy RandomState(23455), the same minibatches "
                  "on device=cuda and device=cpu, float32; errors in percent",
        "results": results, "test_error_difference_points": diff,
        "largest_train_cost_difference": cost_diff, "agree": agree,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
