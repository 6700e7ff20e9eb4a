"""What the tutorial examples share: finding the data and its split, shared datasets, checking
output paths before the work starts, progress bars, and matplotlib figures.

Not part of the Theano tutorials themselves; kept here so each example reads like its tutorial.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import symconv as theano
import symconv.tensor as T

# The project's shared 10,000-digit MNIST sample, beside the checkout (used when present).
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-10k"
# An unsplit file (the 10k or the shipped 2k sample): first 60% train, next 20% valid, last 20%.
SPLIT = (0.6, 0.2, 0.2)
# The tutorial's mnist.pkl.gz partition of the 60,000-image training file; the test file is test.
N_TRAIN_FULL = 50000


def add_common_arguments(parser: argparse.ArgumentParser, epochs: int, batch_size: int,
                         learning_rate: float) -> None:
    """The options every tutorial example takes."""
    parser.add_argument("--data", metavar="DIR",
                        help="folder with MNIST IDX files: the train/t10k four (split "
                             "50,000/10,000 + the test file) or one images/labels pair (split "
                             "60/20/20). Default: the full data set if installed (see "
                             "--dataset), else ../shared/datasets/mnist-10k beside the "
                             "checkout if present, else the 2,000-digit sample shipped in "
                             "symconv")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist",
                        help="mnist (default) or fashion-mnist: found in $SYMCONV_DATA, "
                             "~/.cache/symconv or /usr/share/datasets (Debian's "
                             "dataset-fashion-mnist), else downloaded with checksums")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="use only the first N images of each file, for quick runs")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=f"maximum number of epochs (default: {epochs})")
    parser.add_argument("--batch-size", type=int,
                        help=f"minibatch size (default: {batch_size}, or a quarter of the "
                             "smallest split when that is smaller)")
    parser.set_defaults(default_batch_size=batch_size)
    parser.add_argument("--learning-rate", type=float, default=learning_rate,
                        help=f"SGD step size (default: {learning_rate})")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the initial weights")
    parser.add_argument("--plot", metavar="PNG",
                        help="write training cost and validation error per epoch to this "
                             "image (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# ---------------------------------------------------------------------------------------------
# checks that run before any work

def check_output(option: str, path: str | None, needs_matplotlib: bool = False) -> None:
    """Fail now, not after training, when ``path``'s folder is missing or read-only or the
    library the option needs is not installed."""
    if path is None:
        return
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise SystemExit(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise SystemExit(f"{option} {path}: folder {folder} is not writable")
    if Path(path).is_dir():
        raise SystemExit(f"{option} {path}: is a folder; give a file name")
    if needs_matplotlib:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit(f"{option} needs matplotlib: pip install 'symconv[examples]' "
                             "(or pip install matplotlib)") from None


def write_atomically(path: str, write: Any, suffix: str = "") -> None:
    """Call ``write(binary file)`` on a temporary file beside ``path``, then rename it to
    ``path``: readers never see half a file, and a failure leaves ``path`` as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                               suffix=suffix + ".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# data

@dataclass
class Data:
    """Train, validation and test parts (float rows in [0, 1], int32 labels) and one line that
    says where they came from and how they were split."""

    parts: list[tuple[np.ndarray, np.ndarray]]
    description: str
    class_names: tuple[str, ...]


def _as_rows(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(theano.config.floatX) / 255


def split(images: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train, validation and test parts of one unsplit file: first 60%, next 20%, last 20%
    (6,000/2,000/2,000 of the 10k sample, 1,200/400/400 of the shipped 2k)."""
    n = len(images)
    n_train, n_valid = int(n * SPLIT[0]), int(n * SPLIT[1])
    bounds = [0, n_train, n_train + n_valid, n]
    return [(images[a:b], np.asarray(labels[a:b], dtype="int32"))
            for a, b in itertools.pairwise(bounds)]


def _find_dataset(data: str | None, kind: str) -> tuple[Any, str]:
    """(symconv.datasets.Dataset, what it is) for --data/--dataset."""
    from symconv import datasets
    if data is not None:
        return datasets.load_mnist(data, kind=kind, download=False), data
    if kind != "mnist":  # Fashion-MNIST: installed copy, else download (with checksums)
        found = datasets.load_mnist(kind=kind, download=True)
        return found, f"Fashion-MNIST from {found.source}"
    try:
        found = datasets.load_mnist(kind="mnist", download=False)
        return found, f"MNIST from {found.source}"
    except datasets.DatasetNotFoundError:
        pass
    if DEFAULT_DATA.is_dir():
        return datasets.load_mnist(DEFAULT_DATA, download=False), \
            f"the shared MNIST sample in {DEFAULT_DATA}"
    return datasets.load_mnist_sample(), "the MNIST sample shipped in symconv"


def load_splits(data: str | None, limit: int | None = None, kind: str = "mnist") -> Data:
    """The three parts the tutorials train, validate and test on.

    With the standard four files (the full data set) that is the tutorial's partition: the
    first 50,000 training images train, the other 10,000 validate, the 10,000-image test file
    tests. One unsplit images/labels pair is split 60/20/20 in file order.
    """
    from symconv import datasets
    try:
        found, what = _find_dataset(data, kind)
    except (datasets.DatasetNotFoundError, datasets.IDXFormatError) as err:
        raise SystemExit(str(err)) from None
    if "train" in found.splits:
        train_x, train_y = found.train
        test_x, test_y = found.test
        if limit is not None:
            train_x, train_y = train_x[:limit], train_y[:limit]
            test_x, test_y = test_x[:limit], test_y[:limit]
        n_train = min(N_TRAIN_FULL, len(train_x) * 5 // 6)
        parts = [(train_x[:n_train], train_y[:n_train]), (train_x[n_train:], train_y[n_train:]),
                 (test_x, test_y)]
        how = (f"{len(parts[0][1]):,} train + {len(parts[1][1]):,} validation from the "
               f"training file, {len(test_y):,} test from the test file")
    else:
        images, labels = found.images, found.labels
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        parts = split(images, labels)
        how = (f"{len(parts[0][1]):,} train / {len(parts[1][1]):,} validation / "
               f"{len(parts[2][1]):,} test (60/20/20 of {len(labels):,}, in file order)")
    parts = [(_as_rows(x), np.asarray(y, dtype="int32")) for x, y in parts]
    return Data(parts, f"data: {what}: {how}", found.class_names)


def load_digits(data: str | None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Every image of --data (or the default data) as float rows, int labels and a description
    (test images last when the data set has a test file)."""
    loaded = load_splits(data, limit)
    images = np.concatenate([x for x, _ in loaded.parts])
    labels = np.concatenate([y for _, y in loaded.parts])
    return images, labels, loaded.description


def choose_batch_size(args: argparse.Namespace, parts: list) -> int:
    """--batch-size, or the example's default capped at the smallest split (said in one line);
    an explicit --batch-size that does not fit is an error before any work."""
    smallest = min(len(y) for _, y in parts)
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise SystemExit(f"--batch-size must be at least 1, got {args.batch_size}")
        if args.batch_size > smallest:
            raise SystemExit(f"--batch-size {args.batch_size} is larger than the smallest "
                             f"split ({smallest:,} images); use at most {smallest}")
        return args.batch_size
    if args.default_batch_size > smallest:
        # a quarter of the smallest split: a few minibatches per epoch would barely train
        size = max(1, smallest // 4)
        print(f"note: batch size {size} instead of the tutorial's {args.default_batch_size}: "
              f"the smallest split has {smallest:,} images")
        return size
    return args.default_batch_size


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


def batch_counts(datasets: list, batch_size: int) -> tuple[int, int, int]:
    """Whole minibatches in the train, valid and test splits (the tutorials drop the rest)."""
    counts = tuple(x.get_value(borrow=True).shape[0] // batch_size for x, _ in datasets)
    if min(counts) < 1:
        raise SystemExit(f"--batch-size {batch_size} is larger than a data split")
    return counts


# ---------------------------------------------------------------------------------------------
# progress

class _MinimalBar:
    """A stand-in for tqdm: one updating line on a terminal, nothing elsewhere."""

    def __init__(self, total: int, desc: str, disable: bool) -> None:
        self.total, self.n, self.desc = total, 0, desc
        self.show = not disable and sys.stderr.isatty()
        self.start = time.perf_counter()

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.show:
            filled = int(30 * self.n / max(self.total, 1))
            rate = self.n / max(time.perf_counter() - self.start, 1e-9)
            eta = (self.total - self.n) / rate
            sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{self.n}/{self.total} ETA {eta:.0f} s ")
            sys.stderr.flush()

    def write(self, text: str) -> None:
        if self.show:
            sys.stderr.write("\r" + " " * 79 + "\r")
        print(text, flush=True)

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\r" + " " * 79 + "\r")


def training_bar(epochs: int, batches_per_epoch: int, quiet: bool = False) -> Any:
    """One progress bar over every minibatch of the run (so its ETA is the whole run's) on
    stderr: tqdm when installed, else a minimal one; silent when stderr is not a terminal.
    Print epoch lines through its ``write`` so they do not tear the bar."""
    total = epochs * batches_per_epoch
    try:
        from tqdm import tqdm
    except ImportError:
        return _MinimalBar(total, "epoch 1", quiet)
    return tqdm(total=total, desc="epoch 1", unit="batch", leave=False, file=sys.stderr,
                dynamic_ncols=True, disable=True if quiet else None)  # None: off when no tty


def progress(iterable: Iterable, desc: str, disable: bool = False) -> Iterator:
    """A progress bar over ``iterable`` (kept for scripts written against the old helper)."""
    items = list(iterable)
    bar = training_bar(1, len(items), disable)
    bar.set_description(desc)
    for item in items:
        yield item
        bar.update(1)
    bar.close()


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# figures (matplotlib)

def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    return plt


def plot_curves(path: str, costs: list[float], valid_errors: list[float], title: str,
                best_epoch: int | None = None) -> None:
    """Training cost and validation error (%) per epoch, side by side, as a PNG."""
    plt = _pyplot()
    epochs = np.arange(1, len(costs) + 1)
    dots = "o-" if len(costs) <= 50 else "-"  # markers only while they stay apart
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    left.plot(epochs, costs, dots, color="tab:blue", ms=3, label="training cost (epoch mean)")
    left.set(xlabel="epoch", ylabel="negative log-likelihood", title="Training cost")
    right.plot(epochs, 100 * np.asarray(valid_errors), dots, color="tab:red", ms=3,
               label="validation error")
    if best_epoch:
        right.axvline(best_epoch, color="grey", ls="--", lw=1,
                      label=f"best model (epoch {best_epoch})")
    right.set(xlabel="epoch", ylabel="error (%)", title="Validation error")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def image_grid(path: str, images: np.ndarray, titles: list[str], suptitle: str,
               colorbar_label: str, cmap: str = "gray", symmetric: bool = False,
               cols: int | None = None) -> None:
    """Images ``(n, h, w)`` as a labelled ``imshow`` grid sharing one colour scale and bar."""
    plt = _pyplot()
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    lo, hi = float(images.min()), float(images.max())
    if symmetric:
        lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 1.2, 1.6 * rows + 0.6),
                             squeeze=False, constrained_layout=True)
    shown = None
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
            continue
        shown = ax.imshow(images[k], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(titles[k], fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.8, label=colorbar_label)
    fig.suptitle(suptitle)
    fig.savefig(path, dpi=110)
    plt.close(fig)
