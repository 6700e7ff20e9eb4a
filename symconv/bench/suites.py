"""Benchmark suites: each expands into cases, each case builds a symconv callable to time.

A case carries its inputs as NumPy arrays in ``data`` and a plain description in ``spec``, so
that every peer (PyTorch, JAX) builds the same computation on the same numbers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import symconv
import symconv.tensor as T
from symconv.bench import models


@dataclass
class Case:
    """One timed computation at one batch size."""

    suite: str
    name: str
    kind: str
    batch: int | None
    spec: dict
    data: dict[str, np.ndarray] = field(default_factory=dict)
    flops: float = 0.0
    build: Callable[[], Callable[[], object]] | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    help: str
    batches: tuple[int, ...]      # empty: the suite does not depend on a batch size
    needs_conv: bool
    expand: Callable[[int | None, str, np.random.Generator], list[Case]]


# (name, input channels/height/width, filters (out, in, kh, kw), stride, padding)
CONV_SHAPES = [
    ("lenet-conv1", (1, 28, 28), (20, 1, 5, 5), 1, 0),
    ("lenet-conv2", (20, 12, 12), (50, 20, 5, 5), 1, 0),
    ("cifar-3x3", (3, 32, 32), (32, 3, 3, 3), 1, 1),
    ("vgg-3x3", (64, 32, 32), (64, 64, 3, 3), 1, 1),
    ("stem-7x7/2", (3, 64, 64), (64, 3, 7, 7), 2, 3),
]
POOL_SHAPES = [("lenet-pool1", (20, 24, 24)), ("lenet-pool2", (50, 8, 8)),
               ("cnn-pool", (64, 32, 32))]
CONV_DIRECTIONS = ("fwd", "grad_inputs", "grad_weights")


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _shared(value: np.ndarray, name: str) -> symconv.SharedVariable:
    return symconv.shared(value, name=name)


def _conv_cases(batch: int | None, dtype: str, rng: np.random.Generator) -> list[Case]:
    cases = []
    for name, chw, w_shape, stride, pad in CONV_SHAPES:
        x = rng.standard_normal((batch,) + chw).astype(dtype)
        w = (rng.standard_normal(w_shape) * 0.1).astype(dtype)
        out_hw = (_conv_out(chw[1], w_shape[2], stride, pad),
                  _conv_out(chw[2], w_shape[3], stride, pad))
        gy = rng.standard_normal((batch, w_shape[0]) + out_hw).astype(dtype)
        flops = 2.0 * batch * w_shape[0] * out_hw[0] * out_hw[1] * int(np.prod(w_shape[1:]))
        for direction in CONV_DIRECTIONS:
            spec = {"direction": direction, "stride": stride, "pad": pad}
            case = Case("conv", f"{name} {direction}", "conv", batch, spec,
                        {"x": x, "w": w, "gy": gy}, flops)
            case.build = _conv_builder(case)
            cases.append(case)
    return cases


def _conv_builder(case: Case) -> Callable[[], Callable[[], object]]:
    def build() -> Callable[[], object]:
        x, w, gy = (_shared(case.data[k], k) for k in ("x", "w", "gy"))
        pad, stride = case.spec["pad"], case.spec["stride"]
        out = T.nnet.conv2d(x, w, border_mode=(pad, pad) if pad else "valid",
                            subsample=(stride, stride))
        direction = case.spec["direction"]
        if direction != "fwd":
            wrt = x if direction == "grad_inputs" else w
            out = T.grad((out * gy).sum(), wrt)
        return symconv.function([], out)
    return build


def _pool_cases(batch: int | None, dtype: str, rng: np.random.Generator) -> list[Case]:
    cases = []
    for name, chw in POOL_SHAPES:
        x = rng.standard_normal((batch,) + chw).astype(dtype)
        gy = rng.standard_normal((batch, chw[0], chw[1] // 2, chw[2] // 2)).astype(dtype)
        for direction in ("fwd", "fwd+grad"):
            case = Case("pool", f"{name} {direction}", "pool", batch,
                        {"direction": direction, "ws": 2}, {"x": x, "gy": gy})
            case.build = _pool_builder(case)
            cases.append(case)
    return cases


def _pool_builder(case: Case) -> Callable[[], Callable[[], object]]:
    def build() -> Callable[[], object]:
        from symconv.tensor.signal import pool
        x, gy = _shared(case.data["x"], "x"), _shared(case.data["gy"], "gy")
        out = pool.pool_2d(x, ws=(2, 2), ignore_border=True)
        if case.spec["direction"] != "fwd":
            out = T.grad((out * gy).sum(), x)
        return symconv.function([], out)
    return build


def lenet_forward_flops() -> float:
    """Multiply-adds x 2 of one LeNet forward pass on one image (convs and dense layers)."""
    k0, k1 = models.LENET_KERNELS
    conv = 2.0 * (k0 * 24 * 24 * 25 + k1 * 8 * 8 * k0 * 25)
    dense = 2.0 * (k1 * 16 * models.LENET_HIDDEN + models.LENET_HIDDEN * models.N_CLASSES)
    return conv + dense


def mlp_forward_flops() -> float:
    return 2.0 * (784 * models.MLP_HIDDEN + models.MLP_HIDDEN * models.N_CLASSES)


def _model_data(model: str, batch: int, dtype: str,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (batch, 784) if model == "mlp" else (batch,) + models.IMAGE_SHAPE
    data = {"x": rng.random(shape).astype(dtype),
            "y": rng.integers(0, models.N_CLASSES, batch).astype("int32")}
    init = models.mlp_init(rng, dtype) if model == "mlp" else models.lenet_init(rng, dtype)
    data.update({f"param:{k}": v for k, v in init.items()})
    return data


def _model_cases(model: str, train: bool) -> Callable[..., list[Case]]:
    # A training step costs about three forward passes (forward, grad wrt inputs, wrt weights).
    def expand(batch: int | None, dtype: str, rng: np.random.Generator) -> list[Case]:
        flops = (lenet_forward_flops() if model == "lenet" else mlp_forward_flops()) * batch
        flops *= 3 if train else 1
        spec = {"model": model, "train": train, "learning_rate": 0.1}
        name = f"{model} {'train step' if train else 'predict'}"
        suite = f"{model}-{'train' if train else 'infer'}"
        case = Case(suite, name, "model", batch, spec, _model_data(model, batch, dtype, rng),
                    flops)
        case.build = _model_builder(case)
        return [case]
    return expand


def initial_params(case: Case) -> dict[str, np.ndarray]:
    """The model's initial weights stored in a model case's data."""
    return {k.split(":", 1)[1]: v for k, v in case.data.items() if k.startswith("param:")}


def _model_builder(case: Case) -> Callable[[], Callable[[], object]]:
    def build() -> Callable[[], object]:
        params = models.as_shared({k: v.copy() for k, v in initial_params(case).items()})
        x, y = case.data["x"], case.data["y"]
        if case.spec["train"]:
            fn = models.train_function(case.spec["model"], params, case.spec["learning_rate"])
            return lambda: fn(x, y)
        fn = models.predict_function(case.spec["model"], params)
        return lambda: fn(x)
    return build


def _compile_cases(batch: int | None, dtype: str, rng: np.random.Generator) -> list[Case]:
    cases = []
    for model in ("mlp", "lenet"):
        if model == "lenet" and not models.has_conv():
            continue
        init = models.mlp_init(rng, dtype) if model == "mlp" else models.lenet_init(rng, dtype)

        def build(model: str = model, init: dict = init) -> Callable[[], object]:
            # Each timed call builds the graph, differentiates it and compiles it afresh.
            return lambda: models.train_function(model, models.as_shared(init))
        cases.append(Case("compile", f"{model} graph+grad+compile", "compile", None,
                          {"model": model}, build=build))
    return cases


SUITES: dict[str, Suite] = {s.name: s for s in [
    Suite("conv", "conv2d forward and both gradients at LeNet and common CNN shapes",
          (64,), True, _conv_cases),
    Suite("pool", "2x2 max pooling forward, and forward+gradient", (64,), True, _pool_cases),
    Suite("lenet-train", "one SGD step of the tutorial LeNet (conv-pool x2, tanh 500, softmax)",
          (500,), True, _model_cases("lenet", True)),
    Suite("lenet-infer", "LeNet predictions (argmax) for a batch", (500,), True,
          _model_cases("lenet", False)),
    Suite("mlp-train", "one SGD step of the tutorial MLP (784-500-10, tanh)", (20, 500), False,
          _model_cases("mlp", True)),
    Suite("compile", "building, differentiating and compiling the MLP and LeNet training "
          "functions (batch-independent)", (), False, _compile_cases),
]}


def missing_requirement(suite: Suite) -> str | None:
    """Why the suite cannot run in this build of symconv, or None."""
    if suite.needs_conv and not models.has_conv():
        return ("needs symconv.tensor.nnet.conv2d and symconv.tensor.signal.pool.pool_2d, "
                "which this build of symconv does not have yet")
    return None
