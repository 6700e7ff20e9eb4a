"""``python -m symconv.demo``: train the Theano tutorial's LeNet on the MNIST sample shipped in
the package (no download) and report accuracy and speed.

The network is the tutorial's: two convolution + 2x2 max-pooling + tanh layers (20 and 50
filters of 5x5), a tanh layer of 500 units and a softmax, trained by minibatch SGD. The sample
is 2,000 real MNIST digits (LeCun, Cortes and Burges, CC BY-SA 3.0); see symconv/data/README.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

import symconv
from symconv import datasets
from symconv.bench import models

N_TRAIN = 1500  # of the 2,000 sample digits; the other 500 are the test set


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m symconv.demo",
        description="Train the tutorial LeNet (or MLP) on the 2,000-digit MNIST sample shipped "
                    "in symconv and print per-epoch progress, test accuracy and speed.")
    parser.add_argument("--model", choices=["lenet", "mlp"],
                        help="network to train (default: lenet; mlp where conv2d is absent)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the 1,500 training "
                        "digits (default: 10)")
    parser.add_argument("--batch-size", type=int, default=50, help="minibatch size (default: 50)")
    parser.add_argument("--learning-rate", type=float, default=0.1,
                        help="SGD step size (default: 0.1)")
    parser.add_argument("--floatX", choices=["float32", "float64"],
                        help="float dtype of the model (default: floatX from SYMCONV_FLAGS or "
                             "the rc file when set there, else float32, for speed)")
    parser.add_argument("--seed", type=int, default=23455, help="seed of the initial weights "
                        "and of the minibatch order (default: the tutorial's 23455)")
    return parser


def _ascii_digit(image: np.ndarray) -> list[str]:
    """A 28x28 digit as 14 lines of text (2x2 pixels per character)."""
    shades = " .:-=+*#%@"
    small = image.reshape(14, 2, 14, 2).mean(axis=(1, 3))
    return ["".join(shades[min(int(v / 256 * len(shades)), len(shades) - 1)] for v in row)
            for row in small]


def _show_examples(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> None:
    columns = [_ascii_digit(img) for img in images]
    for row in zip(*columns):
        print("   ".join(row))
    print("   ".join(f"label {t} -> {p}".ljust(14) for t, p in zip(labels, predicted)))


def run(model: str, epochs: int, batch_size: int, learning_rate: float, seed: int) -> dict:
    """Train ``model`` on the shipped sample; print progress and return the final figures."""
    sample = datasets.load_mnist_sample()
    floatx = symconv.config.floatX
    images = sample.images.astype(floatx) / 255
    images = images[:, None] if model == "lenet" else images.reshape(len(images), -1)
    labels = sample.labels.astype("int32")
    train_x, train_y = images[:N_TRAIN], labels[:N_TRAIN]
    test_x, test_y = images[N_TRAIN:], labels[N_TRAIN:]
    rng = np.random.default_rng(seed)
    init = models.lenet_init(rng, floatx) if model == "lenet" else models.mlp_init(rng, floatx)
    print(f"symconv {symconv.__version__}: training the tutorial {model.upper()} "
          f"({sum(v.size for v in init.values()):,} parameters, {floatx}, device "
          f"{symconv.config.device}) on {N_TRAIN} MNIST digits, testing on {len(test_y)}")

    start = time.perf_counter()
    params = models.as_shared(init)
    train = models.train_function(model, params, learning_rate)
    predict = models.predict_function(model, params)
    print(f"built, differentiated and compiled in {time.perf_counter() - start:.2f} s")

    n_batches = N_TRAIN // batch_size
    accuracy = float((predict(test_x) == test_y).mean())
    print(f"epoch  0  test accuracy {accuracy:6.1%}  (untrained)")
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(N_TRAIN)
        costs = []
        tick = time.perf_counter()
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            costs.append(float(train(train_x[idx], train_y[idx])))
            if sys.stderr.isatty():
                sys.stderr.write(f"\repoch {epoch:2d}  {b + 1}/{n_batches} minibatches")
                sys.stderr.flush()
        seconds = time.perf_counter() - tick
        train_seconds += seconds
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 40 + "\r")
        accuracy = float((predict(test_x) == test_y).mean())
        print(f"epoch {epoch:2d}  cost {np.mean(costs):.4f}  test accuracy {accuracy:6.1%}  "
              f"{n_batches * batch_size / seconds:8,.0f} images/s  ({seconds:.1f} s)")
    total = time.perf_counter() - start
    predicted = predict(test_x)
    print()
    _show_examples(sample.images[N_TRAIN:N_TRAIN + 5], test_y[:5], predicted[:5])
    print()
    print(f"final test accuracy {accuracy:.1%} on {len(test_y)} held-out digits after {epochs} "
          f"epochs; training {epochs * n_batches * batch_size / max(train_seconds, 1e-9):,.0f} "
          f"images/s; {total:.1f} s in all")
    return {"model": model, "test_accuracy": accuracy, "seconds": total,
            "train_images_per_s": epochs * n_batches * batch_size / max(train_seconds, 1e-9)}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m symconv.demo``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.batch_size > N_TRAIN:
        parser.error(f"--batch-size must be between 1 and {N_TRAIN:,} (the training digits), "
                     f"got {args.batch_size}")
    if args.epochs < 0:
        parser.error(f"--epochs must be 0 or more, got {args.epochs}")
    floatx = args.floatX
    if floatx is None:
        floatx = symconv.config.floatX if "floatX" in symconv.config.sources else "float32"
    model = args.model or ("lenet" if models.has_conv() else "mlp")
    if model == "lenet" and not models.has_conv():
        print("symconv.demo: this build of symconv has no conv2d/pool_2d; use --model mlp",
              file=sys.stderr)
        return 1
    if args.model is None and model == "mlp":
        print("note: conv2d is not available in this build, training the MLP instead",
              file=sys.stderr)
    with symconv.config.change_flags(floatX=floatx):
        run(model, args.epochs, args.batch_size, args.learning_rate, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
