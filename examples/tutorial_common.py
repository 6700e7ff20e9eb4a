"""What the tutorial examples share: data splits, shared datasets, progress bars, curve plots.

Not part of the Theano tutorials themselves; kept here so each example reads like its tutorial.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import symconv as theano
import symconv.tensor as T

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-10k"
# The tutorials' split of the 10k sample: first 6000 train, next 2000 valid, last 2000 test.
SPLIT = (0.6, 0.2, 0.2)


def add_common_arguments(parser: argparse.ArgumentParser, epochs: int, batch_size: int,
                         learning_rate: float) -> None:
    """The options every tutorial example takes."""
    parser.add_argument("--data", metavar="DIR",
                        help="folder with MNIST IDX files (images-idx3-ubyte[.gz], "
                             "labels-idx1-ubyte[.gz] or the train/t10k pairs); default: "
                             f"{DEFAULT_DATA} if present, else the sample shipped in symconv")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="use only the first N digits (split 60/20/20), for quick runs")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=f"maximum number of epochs (default: {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"minibatch size (default: {batch_size})")
    parser.add_argument("--learning-rate", type=float, default=learning_rate,
                        help=f"SGD step size (default: {learning_rate})")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the initial weights")
    parser.add_argument("--plot", metavar="PNG",
                        help="write training cost and validation error per epoch to this image")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def load_digits(data: str | None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(images as float rows in [0, 1], int labels, a description of the source)."""
    from symconv import datasets
    if data is None and DEFAULT_DATA.is_dir():
        data = str(DEFAULT_DATA)
    if data is None:
        dataset = datasets.load_mnist_sample()
        source = "the MNIST sample shipped in symconv"
    else:
        dataset = datasets.load_mnist(data, download=False)
        source = data
    images, labels = dataset.images, dataset.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    rows = images.reshape(len(images), -1).astype(theano.config.floatX) / 255
    return rows, np.asarray(labels, dtype="int32"), source


def split(images: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train, validation and test parts: 6000/2000/2000 of the 10k sample, 60/20/20 otherwise."""
    n = min(len(images), 10000)
    n_train, n_valid = int(n * SPLIT[0]), int(n * SPLIT[1])
    bounds = [0, n_train, n_train + n_valid, n]
    return [(images[a:b], labels[a:b]) for a, b in itertools.pairwise(bounds)]


def shared_dataset(data_xy: tuple[np.ndarray, np.ndarray], borrow: bool = True) -> tuple:
    """The tutorial's shared_dataset: data in shared variables, labels cast to int32.

    Keeping the whole dataset in shared variables lets a minibatch be a slice taken inside the
    compiled function (through ``givens``), so nothing is copied per call; on a GPU the data
    then stays on the device.
    """
    data_x, data_y = data_xy
    shared_x = theano.shared(np.asarray(data_x, dtype=theano.config.floatX), borrow=borrow)
    shared_y = theano.shared(np.asarray(data_y, dtype=theano.config.floatX), borrow=borrow)
    return shared_x, T.cast(shared_y, "int32")


class _MinimalBar:
    """A stand-in for tqdm: one updating line on a terminal, nothing elsewhere."""

    def __init__(self, iterable: Iterable, desc: str, disable: bool) -> None:
        self.items = list(iterable)
        self.desc = desc
        self.show = not disable and sys.stderr.isatty()
        self.postfix = ""

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def __iter__(self) -> Iterator:
        total = len(self.items)
        for n, item in enumerate(self.items, 1):
            yield item
            if self.show:
                filled = int(30 * n / total)
                sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (30 - filled)}] "
                                 f"{n}/{total} {self.postfix}")
                sys.stderr.flush()
        if self.show:
            sys.stderr.write("\r" + " " * 79 + "\r")


def batch_counts(datasets: list, batch_size: int) -> tuple[int, int, int]:
    """Whole minibatches in the train, valid and test splits (the tutorials drop the rest)."""
    counts = tuple(x.get_value(borrow=True).shape[0] // batch_size for x, _ in datasets)
    if min(counts) < 1:
        raise SystemExit(f"--batch-size {batch_size} is larger than a data split")
    return counts


def progress(iterable: Iterable, desc: str, disable: bool = False) -> Any:
    """A per-epoch progress bar on stderr: tqdm when installed, else a minimal one."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _MinimalBar(iterable, desc, disable)
    return tqdm(iterable, desc=desc, leave=False, disable=disable, file=sys.stderr,
                dynamic_ncols=True)


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def plot_curves(path: str, costs: list[float], valid_errors: list[float], title: str) -> None:
    """Training cost and validation error (%) per epoch, side by side, as a PNG."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        _plot_matplotlib(path, costs, valid_errors, title)
        return
    width, height = 900, 380
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title, fill="black")
    panels = [("training cost", costs, (31, 119, 180)),
              ("validation error %", [100 * e for e in valid_errors], (214, 39, 40))]
    for n, (label, values, colour) in enumerate(panels):
        _panel(draw, (n * width // 2 + 60, 40, (n + 1) * width // 2 - 20, height - 40),
               label, values, colour)
    image.save(path)


def _panel(draw: Any, box: tuple[int, int, int, int], label: str, values: list[float],
           colour: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, outline="black")
    draw.text((left, top - 14), label, fill="black")
    draw.text(((left + right) // 2 - 15, bottom + 18), "epoch", fill="black")
    if not values:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    for frac in (0.0, 0.5, 1.0):
        value = hi - frac * (hi - lo)
        y = top + frac * (bottom - top)
        draw.line((left - 4, y, left, y), fill="black")
        draw.text((left - 56, y - 6), f"{value:.3g}", fill="black")
    n = len(values)
    for epoch in sorted({1, (n + 1) // 2, n}):
        x = left + (epoch - 1) / max(n - 1, 1) * (right - left)
        draw.line((x, bottom, x, bottom + 4), fill="black")
        draw.text((x - 4, bottom + 5), str(epoch), fill="black")
    points = [(left + i / max(n - 1, 1) * (right - left),
               bottom - (v - lo) / (hi - lo) * (bottom - top)) for i, v in enumerate(values)]
    if len(points) > 1:
        draw.line(points, fill=colour, width=2)
    for x, y in points if len(points) <= 50 else points[-1:]:
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)


def _plot_matplotlib(path: str, costs: list[float], valid_errors: list[float],
                     title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs Pillow (pip install 'symconv[examples]') "
                         "or matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    epochs = range(1, len(costs) + 1)
    ax1.plot(epochs, costs)
    ax1.set(xlabel="epoch", title="training cost")
    ax2.plot(epochs, [100 * e for e in valid_errors], color="tab:red")
    ax2.set(xlabel="epoch", title="validation error %")
    fig.suptitle(title)
    fig.savefig(path)
    plt.close(fig)
