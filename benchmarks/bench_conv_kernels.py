"""Time the NumPy conv2d/pool2d kernels against PyTorch CPU at LeNet's layer shapes.

Each case runs symconv and torch in alternating blocks in one process, warmed up; medians.
Usage: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv_kernels.py
[--repeats N] [--out PATH]`` (the variables unset as on a user's machine; the JSON records the
BLAS kernel threadpoolctl reports).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symconv.backends.numpy_conv import (  # noqa: E402
    conv2d, conv2d_grad_inputs, conv2d_grad_weights,
)
from symconv.backends.numpy_pool import (  # noqa: E402
    pool2d, pool2d_grad, pool2d_grad_switches, pool2d_switches,
)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

CONV_LAYERS = {"conv1": ((1, 28, 28), (20, 1, 5, 5)), "conv2": ((20, 12, 12), (50, 20, 5, 5))}
POOL_LAYERS = {"pool1": (20, 24, 24), "pool2": (50, 8, 8)}
BATCHES = (64, 500)
# Longer than OpenBLAS and OpenMP worker threads keep spinning after a call.
_PAUSE_S = 0.3


def _cases(batch: int, rng: np.random.Generator) -> list[tuple[str, Callable, Callable | None]]:
    """(name, symconv thunk, torch thunk or None) for every kernel at this batch size."""
    cases = []
    for layer, (chw, w_shape) in CONV_LAYERS.items():
        x = rng.standard_normal((batch,) + chw, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32)
        gy = rng.standard_normal(conv2d(x, w).shape, dtype=np.float32)
        ours = {
            "fwd": lambda x=x, w=w: conv2d(x, w),
            "grad_inputs": lambda gy=gy, w=w, hw=chw[1:]: conv2d_grad_inputs(gy, w, hw),
            "grad_weights": lambda x=x, gy=gy, k=w_shape[2:]: conv2d_grad_weights(x, gy, k),
        }
        theirs = dict.fromkeys(ours)
        if torch is not None:
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            # symconv convolves (Theano's flip=True); torch cross-correlates flipped filters.
            tw = torch.from_numpy(w).flip(2, 3).contiguous()
            theirs = {
                "fwd": lambda tx=tx, tw=tw: F.conv2d(tx, tw),
                "grad_inputs": lambda tx=tx, tw=tw, tgy=tgy:
                    torch.nn.grad.conv2d_input(tx.shape, tw, tgy),
                "grad_weights": lambda tx=tx, tw=tw, tgy=tgy:
                    torch.nn.grad.conv2d_weight(tx, tw.shape, tgy),
            }
        cases += [(f"{layer} {kind}", ours[kind], theirs[kind]) for kind in ours]
    for layer, chw in POOL_LAYERS.items():
        x = rng.standard_normal((batch,) + chw, dtype=np.float32)
        y = pool2d(x, (2, 2))
        gy = rng.standard_normal(y.shape, dtype=np.float32)
        switches = pool2d_switches(x, (2, 2))
        # "fwd"/"grad": the plain kernels (forward without switches; backward comparing x with
        # y); "fwd switches"/"grad switches": what a training step runs since the switches
        # rewrite, against torch's forward with indices and its backward from the indices
        ours = {"fwd": lambda x=x: pool2d(x, (2, 2)),
                "grad": lambda x=x, y=y, gy=gy: pool2d_grad(x, y, gy, (2, 2)),
                "fwd switches": lambda x=x: pool2d_switches(x, (2, 2)),
                "grad switches": lambda s=switches, gy=gy: pool2d_grad_switches(s, gy)}
        theirs = dict.fromkeys(ours)
        if torch is not None:
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            _, idx = F.max_pool2d(tx, 2, return_indices=True)
            # Both backward kernels get the forward's by-product: y or the switches for us,
            # argmax indices for torch (which sends each window's gradient to one element,
            # not to all ties as Theano and symconv do).
            theirs = {
                "fwd": lambda tx=tx: F.max_pool2d(tx, 2),
                "grad": lambda tx=tx, tgy=tgy, idx=idx: _torch_pool_grad(tgy, tx, idx),
                "fwd switches": lambda tx=tx: F.max_pool2d(tx, 2, return_indices=True),
                "grad switches": lambda tx=tx, tgy=tgy, idx=idx: _torch_pool_grad(tgy, tx, idx),
            }
        cases += [(f"{layer} {kind}", ours[kind], theirs[kind]) for kind in ours]
    return cases


def _torch_pool_grad(gy, x, indices):
    return torch.ops.aten.max_pool2d_with_indices_backward(
        gy, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices)


def _time_ms(thunk: Callable) -> float:
    start = time.perf_counter()
    thunk()
    return (time.perf_counter() - start) * 1e3


def _bench(ours: Callable, theirs: Callable | None, repeats: int,
           rounds: int = 3) -> tuple[float, float | None]:
    """Medians in ms over `rounds` alternating blocks of `repeats` calls per peer.

    Blocks rather than single calls alternate because both libraries keep their worker
    threads spinning after a call; alternating call by call, each peer ran with the other's
    spinners on the same 2 cores (measured: both up to 2x slower). The pause lets them sleep.
    """
    peers = [ours] if theirs is None else [ours, theirs]
    times: list[list[float]] = [[] for _ in peers]
    for _ in range(rounds):
        for thunk, samples in zip(peers, times):
            time.sleep(_PAUSE_S)
            thunk()
            thunk()
            samples.extend(_time_ms(thunk) for _ in range(repeats))
    medians = [statistics.median(samples) for samples in times]
    return medians[0], medians[1] if theirs is not None else None


def _machine() -> dict:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith("model name")]
        model = lines[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return {"cpu": model, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def _blas() -> list[dict]:
    """The loaded BLAS/OpenMP libraries and the kernel OpenBLAS picked (threadpoolctl)."""
    from threadpoolctl import threadpool_info
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per block")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "conv_kernels_cpu.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'batch':>5} {'kernel':<20} {'symconv ms':>11} {'torch ms':>9} {'ratio':>6}")
    for batch in BATCHES:
        for name, ours, theirs in _cases(batch, rng):
            ours_ms, theirs_ms = _bench(ours, theirs, args.repeats)
            ratio = ours_ms / theirs_ms if theirs_ms else None
            rows.append({"batch": batch, "kernel": name, "symconv_ms": round(ours_ms, 3),
                         "torch_ms": theirs_ms and round(theirs_ms, 3),
                         "ratio": ratio and round(ratio, 3)})
            theirs_text = f"{theirs_ms:9.2f} {ratio:6.2f}" if theirs_ms else f"{'-':>9} {'-':>6}"
            print(f"{batch:>5} {name:<20} {ours_ms:11.2f} {theirs_text}")
    result = {
        "benchmark": "conv_kernels_cpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**_machine(), "loadavg_at_end": [round(v, 2) for v in os.getloadavg()]},
        "blas": _blas(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "versions": {"numpy": np.__version__, "torch": torch.__version__ if torch else None},
        "torch_threads": torch.get_num_threads() if torch else None,
        "dtype": "float32",
        "repeats": args.repeats,
        "method": "3 alternating blocks per peer, 0.3 s pause, 2 warm-up calls, median",
        "note": "ratio = symconv / torch median time; below 1 means symconv is faster",
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
