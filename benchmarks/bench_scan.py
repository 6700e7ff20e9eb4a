"""Time scan against PyTorch eager (a Python loop), float32, in one process, interleaved:

(a) a vanilla tanh RNN (hidden 128, input 128, batch 32, 100 steps): forward, backpropagation
    through time and an SGD update of W, U, b, as one compiled symconv function against the
    same model in PyTorch (``torch.tanh(x_t @ W + h @ U + b)`` in a loop, ``backward()``);
(b) per-step overhead: a scan whose step is one small elementwise op (``h + x_t`` on 4
    floats, 1000 steps), in microseconds per step, against a PyTorch loop doing the same op.

With JAX installed, a third column: the same step as one ``jax.jit`` function around
``jax.lax.scan`` and ``jax.grad`` (XLA compiles the loop; the updated parameters are returned,
as JAX has no mutable state).
Usage: ``python benchmarks/bench_scan.py [--repeats N] [--out PATH]``; writes
benchmarks/results/scan_cpu.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import symconv  # noqa: E402
import symconv.tensor as T  # noqa: E402
from symconv.bench.measure import environment, interleaved  # noqa: E402

import torch  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None

HIDDEN, N_IN, BATCH, STEPS, LR = 128, 128, 32, 100, 0.01


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    scale = 1.0 / np.sqrt(HIDDEN)
    return {"W": rng.uniform(-scale, scale, (N_IN, HIDDEN)).astype("float32"),
            "U": rng.uniform(-scale, scale, (HIDDEN, HIDDEN)).astype("float32"),
            "b": np.zeros(HIDDEN, "float32")}


def symconv_rnn_step(init: dict[str, np.ndarray]) -> symconv.Function:
    params = {k: symconv.shared(v.copy(), name=k) for k, v in init.items()}
    w, u, b = params.values()
    x = T.tensor3("x", dtype="float32")      # (steps, batch, n_in)
    h0 = T.matrix("h0", dtype="float32")
    hs, _ = symconv.scan(lambda x_t, h: T.tanh(T.dot(x_t, w) + T.dot(h, u) + b),
                         sequences=x, outputs_info=h0)
    cost = T.mean(hs ** 2)
    grads = T.grad(cost, [w, u, b])
    return symconv.function([x, h0], cost,
                            updates=[(p, p - LR * g) for p, g in zip((w, u, b), grads)])


def torch_rnn_step(init: dict[str, np.ndarray]):
    w, u, b = (torch.tensor(v.copy(), requires_grad=True) for v in init.values())

    def step(x: torch.Tensor, h0: torch.Tensor) -> float:
        h, hs = h0, []
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ w + h @ u + b)
            hs.append(h)
        cost = torch.stack(hs).pow(2).mean()
        for p in (w, u, b):
            p.grad = None
        cost.backward()
        with torch.no_grad():
            for p in (w, u, b):
                p -= LR * p.grad
        return cost.item()
    return step


def jax_rnn_step(init: dict[str, np.ndarray]):
    """The step as one jitted function; the parameters are carried between calls."""
    def cost_of(params, x, h0):
        w, u, b = params

        def body(h, x_t):
            h = jnp.tanh(x_t @ w + h @ u + b)
            return h, h
        _, hs = jax.lax.scan(body, h0, x)
        return jnp.mean(hs ** 2)

    @jax.jit
    def update(params, x, h0):
        cost, grads = jax.value_and_grad(cost_of)(params, x, h0)
        return cost, tuple(p - LR * g for p, g in zip(params, grads))

    state = [tuple(jnp.asarray(v) for v in init.values())]

    def step(x, h0) -> float:
        cost, state[0] = update(state[0], x, h0)
        return cost.block_until_ready()
    return step


def check_same_model(init: dict[str, np.ndarray], xs: np.ndarray, h0: np.ndarray) -> float:
    """Largest difference of the implementations' costs over three SGD steps."""
    f, g = symconv_rnn_step(init), torch_rnn_step(init)
    xt, ht = torch.from_numpy(xs), torch.from_numpy(h0)
    j = jax_rnn_step(init) if jax is not None else None
    diffs = []
    for _ in range(3):
        mine = float(f(xs, h0))
        diffs.append(abs(mine - g(xt, ht)))
        if j is not None:
            diffs.append(abs(mine - float(j(xs, h0))))
    return max(diffs)


def openblas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]


def run(repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    init = init_params(rng)
    xs = rng.normal(size=(STEPS, BATCH, N_IN)).astype("float32")
    h0 = np.zeros((BATCH, HIDDEN), "float32")
    diff = check_same_model(init, xs, h0)
    f, g = symconv_rnn_step(init), torch_rnn_step(init)
    xt, ht = torch.from_numpy(xs), torch.from_numpy(h0)
    peers = {"symconv": lambda: f(xs, h0), "torch": lambda: g(xt, ht)}
    if jax is not None:
        j, xj, hj = jax_rnn_step(init), jnp.asarray(xs), jnp.asarray(h0)
        peers["jax"] = lambda: j(xj, hj)
    res = interleaved(peers, repeats)
    rows = [{"case": "tanh_rnn_forward_bptt_sgd", "hidden": HIDDEN, "n_in": N_IN,
             "batch": BATCH, "steps": STEPS, "max_cost_difference": diff,
             **{f"{name}_ms": round(t.median_ms, 3) for name, t in res.items()},
             "ratio": round(res["symconv"].median_ms / res["torch"].median_ms, 3)}]
    if jax is not None:
        rows[-1]["ratio_to_jax"] = round(res["symconv"].median_ms / res["jax"].median_ms, 3)
    print(rows[-1], flush=True)

    n = 1000
    x, h = T.matrix("x", dtype="float32"), T.vector("h", dtype="float32")
    out, _ = symconv.scan(lambda x_t, acc: acc + x_t, sequences=x, outputs_info=h)
    tiny = symconv.function([x, h], out[-1])
    xv, hv = rng.normal(size=(n, 4)).astype("float32"), np.zeros(4, "float32")
    xtv = torch.from_numpy(xv)

    def torch_loop() -> torch.Tensor:
        acc = torch.zeros(4)
        for t in range(n):
            acc = acc + xtv[t]
        return acc

    peers = {"symconv": lambda: tiny(xv, hv), "torch": torch_loop}
    if jax is not None:
        jax_loop = jax.jit(lambda x, h: jax.lax.scan(lambda a, x_t: (a + x_t, None), h, x)[0])
        xjv, hjv = jnp.asarray(xv), jnp.asarray(hv)
        peers["jax"] = lambda: jax_loop(xjv, hjv).block_until_ready()
    res = interleaved(peers, repeats)
    rows.append({"case": "per_step_overhead_one_elementwise_op", "steps": n,
                 **{f"{name}_us_per_step": round(1e3 * t.median_ms / n, 3)
                    for name, t in res.items()},
                 "ratio": round(res["symconv"].median_ms / res["torch"].median_ms, 3)})
    if jax is not None:
        rows[-1]["ratio_to_jax"] = round(res["symconv"].median_ms / res["jax"].median_ms, 3)
    print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS and PyTorch to this many threads")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                              "scan_cpu.json"))
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
        if jax is not None:     # XLA's CPU client reads its thread count from this flag
            import os
            os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=false "
                                  f"intra_op_parallelism_threads={args.threads}")
    rows = run(args.repeats)
    result = {"benchmark": "scan: tanh RNN forward+BPTT+SGD and per-step overhead, float32",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": environment(["torch", "jax"]),
              "blas": openblas_info(),
              "torch_threads": torch.get_num_threads(),
              "method": "symconv.bench.measure.interleaved: alternating timed blocks after a "
                        "warm-up and an idle pause; medians",
              "threads_limit": args.threads,
              "note": "the machine (2 cores) was shared with other agents while this ran (see "
                      "load_average_1m); under that load multi-threaded BLAS is erratic for "
                      "both libraries, so both are limited to threads_limit; ratio is "
                      "symconv / torch, ratio_to_jax symconv / jax (jit, lax.scan; XLA "
                      "compiles the whole step)",
              "results": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
