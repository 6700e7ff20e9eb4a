"""Peers: the same benchmark cases written directly in PyTorch and JAX.

A peer turns a :class:`~symconv.bench.suites.Case` into a no-argument callable that runs the
case once and waits for the device, or returns None when it has no equivalent (``compile``).
Theano's ``conv2d`` convolves (flips the filters); both peers cross-correlate, so they get the
flipped filters and compute the same numbers.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from symconv.bench.suites import Case, initial_params

if TYPE_CHECKING:
    import torch

PEERS = ("torch", "jax")


def available(name: str) -> bool:
    """Whether the peer's package can be imported here."""
    return importlib.util.find_spec(name) is not None


def make_peer(name: str, device: str) -> TorchPeer | JaxPeer:
    """The peer called ``name`` ('torch' or 'jax') running on ``device`` ('cpu'/'cuda...')."""
    if name == "torch":
        return TorchPeer(device)
    if name == "jax":
        return JaxPeer(device)
    raise ValueError(f"unknown peer {name!r}; known peers: {', '.join(PEERS)}")


class TorchPeer:
    """PyTorch eager mode, functional style, no autograd where a direct kernel exists."""

    name = "torch"

    def __init__(self, device: str) -> None:
        import torch
        self.torch = torch
        self.device = torch.device("cuda" if device.startswith("cuda") else "cpu")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("PyTorch has no CUDA device here")

    def _t(self, value: np.ndarray, flip: bool = False) -> torch.Tensor:
        tensor = self.torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
        return tensor.flip(2, 3).contiguous() if flip else tensor

    def _synced(self, fn: Callable[[], object]) -> Callable[[], object]:
        if self.device.type != "cuda":
            return fn
        sync = self.torch.cuda.synchronize

        def run() -> object:
            out = fn()
            sync()
            return out
        return run

    def build(self, case: Case) -> Callable[[], object] | None:
        builder = {"conv": self._conv, "pool": self._pool, "model": self._model}.get(case.kind)
        return None if builder is None else self._synced(builder(case))

    def _conv(self, case: Case) -> Callable[[], object]:
        import torch.nn.functional as F
        from torch.nn import grad as nn_grad
        x, w, gy = self._t(case.data["x"]), self._t(case.data["w"], True), self._t(case.data["gy"])
        stride, pad = case.spec["stride"], case.spec["pad"]
        direction = case.spec["direction"]
        if direction == "fwd":
            return lambda: F.conv2d(x, w, stride=stride, padding=pad)
        if direction == "grad_inputs":
            return lambda: nn_grad.conv2d_input(x.shape, w, gy, stride=stride, padding=pad)
        return lambda: nn_grad.conv2d_weight(x, w.shape, gy, stride=stride, padding=pad)

    def _pool(self, case: Case) -> Callable[[], object]:
        import torch.nn.functional as F
        x, gy = self._t(case.data["x"]), self._t(case.data["gy"])
        if case.spec["direction"] == "fwd":
            return lambda: F.max_pool2d(x, 2)
        x.requires_grad_(True)
        return lambda: self.torch.autograd.grad(F.max_pool2d(x, 2), x, gy)[0]

    def _model(self, case: Case) -> Callable[[], object]:
        import torch.nn.functional as F
        torch = self.torch
        params = {k: self._t(v, flip=k.startswith("W_conv")).requires_grad_(True)
                  for k, v in initial_params(case).items()}
        x, y = self._t(case.data["x"]), self._t(case.data["y"]).long()
        model = case.spec["model"]

        def forward() -> torch.Tensor:
            h = x
            if model == "lenet":
                for n in range(2):
                    h = F.max_pool2d(F.conv2d(h, params[f"W_conv{n}"]), 2)
                    h = torch.tanh(h + params[f"b_conv{n}"][None, :, None, None])
                h = h.flatten(1)
            h = torch.tanh(h @ params["W_hidden"] + params["b_hidden"])
            return h @ params["W_out"] + params["b_out"]

        if not case.spec["train"]:
            def predict() -> object:
                with torch.no_grad():
                    return forward().argmax(1)
            return predict
        lr = case.spec["learning_rate"]
        shared = list(params.values())

        def step() -> object:
            loss = F.cross_entropy(forward(), y)
            grads = torch.autograd.grad(loss, shared)
            with torch.no_grad():
                for p, g in zip(shared, grads):
                    p.sub_(lr * g)
            return loss.detach()
        return step


class JaxPeer:
    """JAX with every case under ``jax.jit`` (compiled during warm-up, not timed)."""

    name = "jax"

    def __init__(self, device: str) -> None:
        import jax
        self.jax = jax
        kind = "gpu" if device.startswith("cuda") else "cpu"
        self.device = jax.devices(kind)[0]
        # float64 cases need x64 mode; it must be on before any array is created.
        jax.config.update("jax_enable_x64", True)

    def _a(self, value: np.ndarray, flip: bool = False) -> object:
        value = value[:, :, ::-1, ::-1] if flip else value
        return self.jax.device_put(np.ascontiguousarray(value), self.device)

    def _ready(self, fn: Callable, *args: object) -> Callable[[], object]:
        return lambda: self.jax.block_until_ready(fn(*args))

    def build(self, case: Case) -> Callable[[], object] | None:
        builder = {"conv": self._conv, "pool": self._pool, "model": self._model}.get(case.kind)
        return None if builder is None else builder(case)

    def _conv(self, case: Case) -> Callable[[], object]:
        jax, lax = self.jax, self.jax.lax
        x, w, gy = self._a(case.data["x"]), self._a(case.data["w"], True), self._a(case.data["gy"])
        stride, pad = case.spec["stride"], case.spec["pad"]

        def conv(x: object, w: object) -> object:
            return lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)])

        direction = case.spec["direction"]
        if direction == "fwd":
            return self._ready(jax.jit(conv), x, w)
        if direction == "grad_inputs":
            fn = jax.jit(lambda x, w, gy: jax.vjp(lambda x: conv(x, w), x)[1](gy)[0])
        else:
            fn = jax.jit(lambda x, w, gy: jax.vjp(lambda w: conv(x, w), w)[1](gy)[0])
        return self._ready(fn, x, w, gy)

    def _maxpool(self, x: object) -> object:
        lax = self.jax.lax
        # A concrete NumPy -inf (not a traced jnp value) lets JAX pick its differentiable
        # max-pool primitive.
        init = np.array(-np.inf, dtype=x.dtype)
        return lax.reduce_window(x, init, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def _pool(self, case: Case) -> Callable[[], object]:
        jax = self.jax
        x, gy = self._a(case.data["x"]), self._a(case.data["gy"])
        if case.spec["direction"] == "fwd":
            return self._ready(jax.jit(self._maxpool), x)
        fn = jax.jit(lambda x, gy: jax.vjp(self._maxpool, x)[1](gy)[0])
        return self._ready(fn, x, gy)

    def _model(self, case: Case) -> Callable[[], object]:
        jax, jnp, lax = self.jax, self.jax.numpy, self.jax.lax
        params = {k: self._a(v, flip=k.startswith("W_conv"))
                  for k, v in initial_params(case).items()}
        x, y = self._a(case.data["x"]), self._a(case.data["y"])
        model = case.spec["model"]

        def logits(params: dict, x: object) -> object:
            h = x
            if model == "lenet":
                for n in range(2):
                    h = lax.conv_general_dilated(h, params[f"W_conv{n}"], (1, 1), "VALID")
                    h = jnp.tanh(self._maxpool(h) + params[f"b_conv{n}"][None, :, None, None])
                h = h.reshape(h.shape[0], -1)
            h = jnp.tanh(h @ params["W_hidden"] + params["b_hidden"])
            return h @ params["W_out"] + params["b_out"]

        if not case.spec["train"]:
            return self._ready(jax.jit(lambda p, x: jnp.argmax(logits(p, x), 1)), params, x)
        lr = case.spec["learning_rate"]

        def loss(params: dict, x: object, y: object) -> object:
            logp = jax.nn.log_softmax(logits(params, x))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], 1))

        @jax.jit
        def step(params: dict, x: object, y: object) -> tuple:
            value, grads = jax.value_and_grad(loss)(params, x, y)
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), value

        state = [params]

        def run() -> object:
            state[0], value = step(state[0], x, y)
            return jax.block_until_ready(value)
        return run
