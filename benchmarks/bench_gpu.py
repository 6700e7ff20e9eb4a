"""symconv on device=cuda vs PyTorch eager on the same GPU, in one process.

Cases: the tutorial LeNet's SGD step and inference at batch 64 and 500 (data in a shared
variable sliced by a minibatch index, as in the tutorial; PyTorch slices a device tensor); the
SGD step on device minibatches called plainly and replayed as CUDA graphs (GraphedFunction),
after checking that both give the same costs; conv2d forward and forward+backward at the LeNet
layer shapes. Peers are timed interleaved (one run of ``iters`` calls of each in turn, rotating
the order, ``repeats`` times) and compared by medians. Writes benchmarks/results/gpu_<gpu>.json
with the GPU name, driver, library versions and the date.

    python benchmarks/bench_gpu.py [--repeats 7] [--iters 30] [--out PATH]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from typing import Any, Callable

import numpy as np

import symconv
import symconv.tensor as T

N_DATA = 5000


def interleaved(peers: dict[str, tuple[Callable[[], Any], Callable[[], None]]], iters: int,
                repeats: int) -> dict[str, dict]:
    """Median and min seconds per call of each (step, sync) peer: after a warm-up, ``repeats``
    rounds in which every peer runs ``iters`` calls, the order rotating between rounds."""
    names = list(peers)
    for step, sync in peers.values():
        for _ in range(5):
            step()
        sync()
    runs: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step, sync = peers[name]
            t0 = time.perf_counter()
            for _ in range(iters):
                step()
            sync()
            runs[name].append((time.perf_counter() - t0) / iters)
    return {name: {"median_s": statistics.median(v), "min_s": min(v)} for name, v in runs.items()}


# ---- symconv ---------------------------------------------------------------------------------

def symconv_lenet(batch: int, data: np.ndarray, labels: np.ndarray) -> tuple[Callable, Callable]:
    from symconv.bench import models
    with symconv.change_flags(device="cuda", floatX="float32"):
        params = models.as_shared(models.lenet_init(np.random.default_rng(0), "float32"))
        shared_x = symconv.shared(data)
        shared_y = T.cast(symconv.shared(labels.astype("float32")), "int32")
        index = T.lscalar()
        x, y = T.tensor4("x"), T.ivector("y")
        p_y = models.lenet_output(x, params)
        cost = models.nll(p_y, y)
        window = slice(index * batch, (index + 1) * batch)
        train = symconv.function([index], cost, updates=models.sgd_updates(cost, params, 0.1),
                                 givens={x: shared_x[window], y: shared_y[window]})
        predict = symconv.function([index], T.argmax(p_y, axis=1),
                                   givens={x: shared_x[window]})
    n_batches = len(data) // batch
    counter = iter(range(10 ** 9))
    return (lambda: train(next(counter) % n_batches)), (lambda: predict(next(counter) % n_batches))


def symconv_lenet_device(batch: int, data: np.ndarray, labels: np.ndarray
                         ) -> tuple[Callable, Callable, list[float]]:
    """(plain step, CUDA-graph step, |cost difference| of the first 5 steps from one start):
    the SGD step taking device minibatches, called through call_device and through
    GraphedFunction, each on its own copy of the parameters."""
    import cupy
    from symconv.backends.cuda.graphs import GraphedFunction
    from symconv.backends.cupy import call_device
    from symconv.bench import models
    init = models.lenet_init(np.random.default_rng(0), "float32")
    steps = []
    for _ in range(2):
        with symconv.change_flags(device="cuda", floatX="float32"):
            params = models.as_shared(init)
            x, y = T.tensor4("x"), T.ivector("y")
            cost = models.nll(models.lenet_output(x, params), y)
            steps.append(symconv.function([x, y], cost,
                                          updates=models.sgd_updates(cost, params, 0.1)))
    plain, graphed = steps[0], GraphedFunction(steps[1])
    n_batches = len(data) // batch
    xs = [cupy.asarray(data[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    ys = [cupy.asarray(labels[i * batch:(i + 1) * batch].astype("int32"))
          for i in range(n_batches)]
    diffs = [abs(float(call_device(plain, xs[i], ys[i]).get()) - float(graphed(xs[i], ys[i])))
             for i in range(5)]
    counter = iter(range(10 ** 9))

    def plain_step() -> Any:
        i = next(counter) % n_batches
        return call_device(plain, xs[i], ys[i]).get()     # the cost to the host, as torch

    def graphed_step() -> Any:
        i = next(counter) % n_batches
        return graphed(xs[i], ys[i])
    return plain_step, graphed_step, diffs


def symconv_conv(x: np.ndarray, w: np.ndarray) -> tuple[Callable, Callable]:
    """(forward, forward + both gradients) of conv2d on device arrays."""
    from symconv.backends.cupy import call_device
    with symconv.change_flags(device="cuda", floatX="float32"):
        xs, ws, gys = T.tensor4(), T.tensor4(), T.tensor4()
        y = T.nnet.conv2d(xs, ws)
        fwd = symconv.function([xs, ws], y)
        both = symconv.function([xs, ws, gys], [y] + T.grad((y * gys).sum(), [xs, ws]))
        backend = fwd.program.backend
    xd, wd = backend.to_device(x), backend.to_device(w)
    gy = backend.to_device(np.ones(fwd(x, w).shape, "float32"))
    return (lambda: call_device(fwd, xd, wd)), (lambda: call_device(both, xd, wd, gy))


# ---- PyTorch ---------------------------------------------------------------------------------

def torch_lenet(batch: int, data: np.ndarray, labels: np.ndarray) -> tuple[Callable, Callable]:
    import torch
    import torch.nn.functional as F
    from symconv.bench import models
    init = models.lenet_init(np.random.default_rng(0), "float32")
    p = {k: torch.tensor(v, device="cuda", requires_grad=True) for k, v in init.items()}
    # symconv/Theano convolve with flipped filters: flip once so both compute the same net
    with torch.no_grad():
        for k in ("W_conv0", "W_conv1"):
            p[k].copy_(torch.flip(p[k], dims=(2, 3)))
    xs = torch.tensor(data, device="cuda")
    ys = torch.tensor(labels.astype("int64"), device="cuda")
    n_batches = len(data) // batch
    counter = iter(range(10 ** 9))

    def forward(x: Any) -> Any:
        for n in range(2):
            x = torch.tanh(F.max_pool2d(F.conv2d(x, p[f"W_conv{n}"]), 2)
                           + p[f"b_conv{n}"][None, :, None, None])
        h = torch.tanh(x.flatten(1) @ p["W_hidden"] + p["b_hidden"])
        return torch.log_softmax(h @ p["W_out"] + p["b_out"], dim=1)

    def train() -> Any:
        i = next(counter) % n_batches
        cost = F.nll_loss(forward(xs[i * batch:(i + 1) * batch]), ys[i * batch:(i + 1) * batch])
        grads = torch.autograd.grad(cost, list(p.values()))
        with torch.no_grad():
            for param, g in zip(p.values(), grads):
                param -= 0.1 * g
        return cost.item()     # symconv returns the cost to the host too

    def predict() -> Any:
        i = next(counter) % n_batches
        with torch.no_grad():
            return forward(xs[i * batch:(i + 1) * batch]).argmax(dim=1).cpu().numpy()
    return train, predict


def torch_conv(x: np.ndarray, w: np.ndarray) -> tuple[Callable, Callable]:
    import torch
    import torch.nn.functional as F
    xt = torch.tensor(x, device="cuda", requires_grad=True)
    wt = torch.tensor(w, device="cuda", requires_grad=True)
    gy = torch.ones_like(F.conv2d(xt, wt))

    def fwd() -> Any:
        with torch.no_grad():
            return F.conv2d(xt, wt)

    def both() -> Any:
        y = F.conv2d(xt, wt)
        return (y,) + torch.autograd.grad(y, [xt, wt], gy)
    return fwd, both


# ---- driver ----------------------------------------------------------------------------------

def environment() -> dict:
    import cupy
    import torch
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return {"gpu": name.decode() if isinstance(name, bytes) else name,
            "driver": cupy.cuda.runtime.driverGetVersion(),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cupy": cupy.__version__, "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version(), "symconv": symconv.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import cupy
    import torch
    rng = np.random.default_rng(0)
    data = rng.random((N_DATA, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, N_DATA)
    sync_cp = cupy.cuda.Device().synchronize
    sync_torch = torch.cuda.synchronize
    rows = []

    def record(case: str, peers: dict[str, tuple[Callable, Callable]], **extra: Any) -> None:
        times = interleaved(peers, args.iters, args.repeats)
        base = times["torch_eager"]["median_s"] if "torch_eager" in times else None
        row = {"case": case, **times, **extra}
        text = f"{case:38s}"
        for name, t in times.items():
            text += f" {name} {t['median_s'] * 1e3:8.3f} ms"
            if base and name != "torch_eager":
                row[f"ratio_{name}"] = t["median_s"] / base
                text += f" (ratio {t['median_s'] / base:5.2f})"
        rows.append(row)
        print(text, flush=True)

    for batch in (64, 500):
        s_train, s_pred = symconv_lenet(batch, data, labels)
        t_train, t_pred = torch_lenet(batch, data, labels)
        record(f"lenet train step b={batch}", {"symconv": (s_train, sync_cp),
                                               "torch_eager": (t_train, sync_torch)})
        record(f"lenet inference b={batch}", {"symconv": (s_pred, sync_cp),
                                              "torch_eager": (t_pred, sync_torch)})
        plain, graphed, diffs = symconv_lenet_device(batch, data, labels)
        t_train, _ = torch_lenet(batch, data, labels)
        record(f"lenet step, device batches b={batch}",
               {"symconv": (plain, sync_cp), "symconv_graphed": (graphed, sync_cp),
                "torch_eager": (t_train, sync_torch)},
               graphed_vs_plain_cost_difference=max(diffs))
    for name, xs, ws in (("conv1", (500, 1, 28, 28), (20, 1, 5, 5)),
                         ("conv2", (500, 20, 12, 12), (50, 20, 5, 5))):
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        (s_fwd, s_both), (t_fwd, t_both) = symconv_conv(x, w), torch_conv(x, w)
        record(f"{name} {xs}x{ws} fwd", {"symconv": (s_fwd, sync_cp),
                                         "torch_eager": (t_fwd, sync_torch)})
        record(f"{name} {xs}x{ws} fwd+bwd", {"symconv": (s_both, sync_cp),
                                             "torch_eager": (t_both, sync_torch)})
    env = environment()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   "gpu_" + env["gpu"].replace(" ", "_").lower() + ".json")
    with open(out, "w") as fh:
        json.dump({"environment": env, "iters": args.iters, "repeats": args.repeats,
                   "method": "interleaved rounds, rotating order, medians of per-call time; "
                             "costs returned to the host by every peer",
                   "results": rows}, fh, indent=2)
    print(f"wrote {out}")
    worst = max(row.get("graphed_vs_plain_cost_difference", 0.0) for row in rows)
    if worst > 1e-4:
        raise SystemExit(f"CUDA-graph replay DISAGREES with plain calls: cost difference {worst}")


if __name__ == "__main__":
    main()
