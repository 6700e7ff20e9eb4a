"""MNIST and Fashion-MNIST: read IDX files, find or download them, and a shipped 2,000-digit sample.

Layouts understood in a data directory (each file gzip'd ``.gz`` or raw):

* the standard four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, giving splits ``train`` and ``test``;
* one unsplit pair ``images-idx3-ubyte`` + ``labels-idx1-ubyte``, giving one split ``all``.

Every loader returns a :class:`Dataset`; ``ds.images`` / ``ds.labels`` are all digits in file
order whatever the layout, and :func:`split` carves train/valid/test sets out of them.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping, Sequence

import zlib

import numpy as np

__all__ = ["Dataset", "Split", "IDXFormatError", "DatasetNotFoundError", "DownloadError",
           "load_mnist", "load_mnist_sample", "sample_image_path", "load_idx", "save_idx",
           "split", "to_float", "search_paths", "MIRRORS", "SHA256", "CLASS_NAMES"]

DATA_DIR = Path(__file__).resolve().parent / "data"

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

MIRRORS: dict[str, tuple[str, ...]] = {
    # yann.lecun.com is the original but now often answers 403, so it is tried last
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
                      "data/fashion/"),
}

# SHA-256 of the .gz files (every mirror serves the same bytes), as pinned by TensorFlow
# Datasets, torchvision's prototype datasets and Chainer.
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple("0123456789"),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}

# Debian's dataset-fashion-mnist package installs the four .gz files here
DEBIAN_DIRS: dict[str, Path] = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=").str: code for code, dt in _IDX_DTYPES.items()}
IMAGES_MAGIC, LABELS_MAGIC = 0x803, 0x801


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file, or not the IDX file the loader expected."""


class DatasetNotFoundError(FileNotFoundError):
    """The data files are not on disk and downloading is off."""


class DownloadError(DatasetNotFoundError):
    """The data files are not on disk and every mirror failed."""


# eq=False: fields are arrays (and a dict), so field-wise == and hash would be meaningless
@dataclass(frozen=True, eq=False)
class Split:
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` uint8; unpacks as ``x, y = split``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"Split(images={self.images.shape} {self.images.dtype}, "
                f"labels={self.labels.shape} {self.labels.dtype})")

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.images, self.labels))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Named splits (``train`` and ``test``, or one ``all``) read from ``source``."""

    splits: dict[str, Split]
    kind: str = "mnist"
    source: Path | None = None
    class_names: tuple[str, ...] = field(default=CLASS_NAMES["mnist"], repr=False)

    def __getitem__(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(
                f"{self.kind} from {self.source} has splits {list(self.splits)}, not {name!r}; "
                "use .images/.labels (every digit) and symconv.datasets.split() to make your "
                "own") from None

    @property
    def train(self) -> Split:
        return self["train"]

    @property
    def test(self) -> Split:
        return self["test"]

    # concatenated lazily: with one split these are the arrays themselves, no copy
    @cached_property
    def images(self) -> np.ndarray:
        parts = [s.images for s in self.splits.values()]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @cached_property
    def labels(self) -> np.ndarray:
        parts = [s.labels for s in self.splits.values()]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __len__(self) -> int:
        return sum(len(s) for s in self.splits.values())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(s)}" for name, s in self.splits.items())
        return f"Dataset({self.kind!r}, {sizes}, source={str(self.source)!r})"

    def split(self, n_train: int, n_valid: int, n_test: int | None = None
              ) -> tuple[Split, Split, Split]:
        """Contiguous train/valid/test splits of every digit; see :func:`split`."""
        return split(self.images, self.labels, n_train, n_valid, n_test)


# ---------------------------------------------------------------------------------------------
# IDX files

def _read_bytes(file: str | os.PathLike | BinaryIO) -> tuple[bytes, str]:
    if hasattr(file, "read"):
        raw, name = file.read(), getattr(file, "name", "<file object>")
    else:
        name = os.fspath(file)
        with open(name, "rb") as f:
            raw = f.read()
    # sniff the gzip magic rather than trust the extension: unpacked files often keep ".gz"
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise IDXFormatError(f"{name}: corrupt or truncated gzip data ({err})") from None
    return raw, str(name)


def load_idx(file: str | os.PathLike | BinaryIO) -> np.ndarray:
    """Read one IDX file (gzip'd or raw) into a native-endian array.

    Parameters
    ----------
    file : str, path-like or binary file object
        The IDX file. Gzip compression is detected from the content, not the name.

    Returns
    -------
    numpy.ndarray
        A writable array with the file's shape and element type (uint8, int8, int16, int32,
        float32 or float64 for IDX type codes 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E).

    Raises
    ------
    IDXFormatError
        Bad magic number, unknown type code, or a size that does not match the header
        (truncated file or trailing bytes). The message names the file.
    """
    raw, name = _read_bytes(file)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(f"{name}: not an IDX file (magic number must start with two zero "
                             f"bytes, got {raw[:4].hex() or 'an empty file'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise IDXFormatError(f"{name}: unknown IDX element type 0x{code:02X} (magic "
                             f"0x{code:02X}{ndim:02X}); valid: 08 09 0B 0C 0D 0E")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{name}: truncated header ({len(raw)} bytes, {ndim} dimensions "
                             f"need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise IDXFormatError(f"{name}: {what}: shape {shape} of {dtype.name} needs {expected} "
                             f"data bytes, file has {got}")
    data = np.frombuffer(raw, dtype=dtype, offset=header)
    return data.astype(dtype.newbyteorder("=")).reshape(shape)


def save_idx(file: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write an array as an IDX file, gzip'd when ``compress`` (default: name ends in ``.gz``).

    Parameters
    ----------
    file : str or path-like
        Where to write.
    array : numpy.ndarray
        uint8, int8, int16, int32, float32 or float64; any number of dimensions up to 255.
    compress : bool, optional
        Gzip the output. The gzip header carries no timestamp, so output is reproducible.
    """
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise TypeError(f"IDX cannot store {array.dtype}; use one of uint8, int8, int16, int32, "
                        "float32, float64")
    body = (struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
            + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes())
    if compress is None:
        compress = os.fspath(file).endswith(".gz")
    if compress:
        body = gzip.compress(body, compresslevel=9, mtime=0)
    Path(file).write_bytes(body)


# ---------------------------------------------------------------------------------------------
# finding, checking and reading the files

def _find(directory: Path, filename: str) -> Path | None:
    """The file, gzip'd or raw; also Kaggle's ``train-images.idx3-ubyte`` spelling."""
    stem = filename.removesuffix(".gz")
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    return None


def _layout(directory: Path) -> dict[str, tuple[Path, Path]] | None:
    """The splits a directory holds as {name: (images file, labels file)}, or None."""
    four = [_find(directory, f) for f in FILES]
    if all(four):
        return {"train": (four[0], four[1]), "test": (four[2], four[3])}
    pair = [_find(directory, "images-idx3-ubyte.gz"), _find(directory, "labels-idx1-ubyte.gz")]
    if all(pair):
        return {"all": (pair[0], pair[1])}
    return None


def _read_split(images_file: Path, labels_file: Path, n_classes: int = 10) -> Split:
    images, labels = load_idx(images_file), load_idx(labels_file)
    for arr, file, magic, ndim in ((images, images_file, IMAGES_MAGIC, 3),
                                   (labels, labels_file, LABELS_MAGIC, 1)):
        if arr.dtype != np.uint8 or arr.ndim != ndim:
            raise IDXFormatError(f"{file}: expected magic 0x{magic:03X} (uint8, {ndim}-d), got a "
                                 f"{arr.ndim}-d {arr.dtype} file")
    if images.shape[1:] != (28, 28):
        raise IDXFormatError(f"{images_file}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise IDXFormatError(f"{images_file} has {len(images)} images but {labels_file} has "
                             f"{len(labels)} labels")
    if labels.size and labels.max() >= n_classes:
        raise IDXFormatError(f"{labels_file}: label {labels.max()} out of range 0-{n_classes - 1}")
    return Split(images, labels)


def _read_dataset(directory: Path, layout: dict[str, tuple[Path, Path]], kind: str) -> Dataset:
    splits = {name: _read_split(*files) for name, files in layout.items()}
    return Dataset(splits, kind=kind, source=directory, class_names=CLASS_NAMES[kind])


def search_paths(kind: str = "mnist") -> list[Path]:
    """Directories :func:`load_mnist` looks in, in order, when it is given no path.

    Parameters
    ----------
    kind : {'mnist', 'fashion-mnist'}
        Which dataset.

    Returns
    -------
    list of pathlib.Path
        ``$SYMCONV_DATA/<kind>`` (when that variable is set), ``~/.cache/symconv/<kind>``, then
        for Fashion-MNIST Debian's ``/usr/share/datasets/fashion-mnist``. Downloads go to the
        first of these.
    """
    _check_kind(kind)
    paths = []
    if os.environ.get("SYMCONV_DATA"):
        paths.append(Path(os.environ["SYMCONV_DATA"]).expanduser() / kind)
    paths.append(Path.home() / ".cache" / "symconv" / kind)
    if kind in DEBIAN_DIRS:
        paths.append(DEBIAN_DIRS[kind])
    return paths


def _check_kind(kind: str) -> None:
    if kind not in MIRRORS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, MIRRORS))}, got {kind!r}")


# ---------------------------------------------------------------------------------------------
# downloading

class _Progress:
    """One stderr line per file: live percentages on a terminal, just the total elsewhere."""

    def __init__(self, url: str, total: int, enabled: bool) -> None:
        self.url, self.total, self.enabled, self.done, self.shown = url, total, enabled, 0, -1
        self.live = enabled and sys.stderr.isatty()

    def update(self, n: int) -> None:
        self.done += n
        pct = 100 * self.done // self.total if self.total else self.done >> 20
        if self.live and pct != self.shown:
            self.shown = pct
            size = f"{pct}% of {self.total / 1e6:.1f} MB" if self.total else f"{pct} MiB"
            sys.stderr.write(f"\rdownloading {self.url}: {size}")
            sys.stderr.flush()

    def close(self, ok: bool) -> None:
        if self.enabled and (ok or self.live):
            state = f"downloaded {self.done / 1e6:.1f} MB" if ok else "failed"
            sys.stderr.write(f"\r{self.url}: {state}\n")


def _fetch(url: str, dest: Path, sha256: str | None, timeout: float, progress: bool) -> None:
    """Download url to dest through a temporary file, so dest is either complete or absent."""
    request = urllib.request.Request(url, headers={"User-Agent": "symconv-datasets/0.1"})
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    bar, ok = None, False
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            bar = _Progress(url, int(resp.headers.get("Content-Length") or 0), progress)
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise ValueError(f"SHA-256 mismatch: got {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
        ok = True
    finally:
        if bar is not None:
            bar.close(ok)
        if os.path.exists(tmp):
            os.remove(tmp)


def _download(directory: Path, filenames: Sequence[str], mirrors: Sequence[str],
              checksums: Mapping[str, str | None], timeout: float, progress: bool,
              kind: str) -> None:
    unknown = [name for name in filenames if name not in checksums]
    if unknown:
        raise ValueError(f"no checksum given for {', '.join(unknown)}; pass checksums= with a "
                         "SHA-256 hex digest for each file (None skips verification)")
    directory.mkdir(parents=True, exist_ok=True)
    # say so once, rather than as every mirror's failure to create its temporary file
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"cannot write to {directory}; pass path= or set $SYMCONV_DATA")
    for name in filenames:
        failures = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                _fetch(url, directory / name, checksums[name], timeout, progress)
                break
            # URLError, refused connections and timeouts are OSErrors; bad checksums ValueErrors
            except (OSError, ValueError, http.client.HTTPException) as err:
                failures.append(f"  {url}: {err}")
        else:
            raise DownloadError(
                f"could not download {kind} file {name}; tried:\n" + "\n".join(failures)
                + "\n" + _manual_hint(directory, kind, mirrors))


def _manual_hint(target: Path, kind: str, mirrors: Sequence[str]) -> str:
    others = [str(p) for p in search_paths(kind) if p != target]
    lines = [f"To install {kind} by hand, fetch {', '.join(FILES)}",
             f"from {mirrors[0] if mirrors else 'a mirror'} and put them (gzip'd or not) in",
             f"  {target}"]
    lines += [f"  or {p}" for p in others]
    lines.append("or call load_mnist(path=DIR) on a directory holding them.")
    if kind in DEBIAN_DIRS:
        lines.append(f"On Debian/Ubuntu, `apt-get install dataset-{kind}` installs them in "
                     f"{DEBIAN_DIRS[kind]}.")
    return "\n".join(lines)


def load_mnist(path: str | os.PathLike | None = None, kind: str = "mnist",
               download: bool = True, *, mirrors: Sequence[str] | None = None,
               checksums: Mapping[str, str | None] | None = None, timeout: float = 60.0,
               progress: bool = True) -> Dataset:
    """Load MNIST or Fashion-MNIST, downloading the files when they are not on disk.

    Parameters
    ----------
    path : str or path-like, optional
        Directory holding the files (four-file or single-pair layout, see the module docstring).
        Missing files are downloaded into it. Default: the first of :func:`search_paths` that
        holds a layout, else download into the first of them.
    kind : {'mnist', 'fashion-mnist'}
        Which dataset.
    download : bool
        Download missing files. When False and they are missing, raise DatasetNotFoundError.
    mirrors : sequence of str, optional
        Base URLs tried in order for each file (default ``MIRRORS[kind]``).
    checksums : mapping of str to str or None, optional
        Expected SHA-256 hex digest of each downloaded ``.gz`` file (default ``SHA256[kind]``);
        a value of None skips verification of that file. A file that fails verification is
        discarded and the next mirror is tried.
    timeout : float
        Seconds to wait on a silent connection before trying the next mirror.
    progress : bool
        Report download progress on stderr.

    Returns
    -------
    Dataset
        Splits ``train`` (60,000) and ``test`` (10,000) for the four-file layout, or one split
        ``all`` for a single pair. ``.images`` (n, 28, 28) uint8 and ``.labels`` (n,) uint8 hold
        every digit in file order; ``split(ds.images, ds.labels, 50000, 10000, 10000)`` gives the
        Theano tutorial's ``mnist.pkl.gz`` partition.

    Raises
    ------
    DatasetNotFoundError
        Files missing and ``download`` is False; the message says where to put them.
    DownloadError
        Every mirror failed for some file; the message lists the URLs tried and why.
    IDXFormatError
        A file is corrupt or not the expected IDX file.
    """
    _check_kind(kind)
    if path is not None:
        candidates = [Path(path).expanduser()]
    else:
        candidates = search_paths(kind)
    for directory in candidates:
        layout = _layout(directory)
        if layout is not None:
            return _read_dataset(directory, layout, kind)
    target = candidates[0]
    missing = [f for f in FILES if _find(target, f) is None]
    if not download:
        raise DatasetNotFoundError(
            f"{kind} not found and download=False; looked in "
            + ", ".join(map(str, candidates)) + ".\n"
            + _manual_hint(target, kind, MIRRORS[kind] if mirrors is None else mirrors))
    mirrors = MIRRORS[kind] if mirrors is None else mirrors
    checksums = SHA256[kind] if checksums is None else checksums
    _download(target, missing, mirrors, checksums, timeout, progress, kind)
    return _read_dataset(target, _layout(target), kind)


# ---------------------------------------------------------------------------------------------
# shipped sample data, and helpers

def load_mnist_sample() -> Dataset:
    """The first 2,000 digits of the project's MNIST sample, shipped inside the package.

    Needs no download. Every class 0-9 is present (the source was shuffled once, so any
    contiguous run is roughly class-balanced). See ``symconv/data/README.md`` for provenance.

    Returns
    -------
    Dataset
        One split ``all``: ``.images`` (2000, 28, 28) uint8, ``.labels`` (2000,) uint8.
    """
    layout = {"all": (DATA_DIR / "mnist-2k-images-idx3-ubyte.gz",
                      DATA_DIR / "mnist-2k-labels-idx1-ubyte.gz")}
    return _read_dataset(DATA_DIR, layout, "mnist")


def sample_image_path() -> Path:
    """Path of a small RGB photo shipped with the package (150x100 PNG of Chelsea the cat, CC0).

    Returns
    -------
    pathlib.Path
        ``symconv/data/chelsea_small.png``.
    """
    return DATA_DIR / "chelsea_small.png"


def split(images: np.ndarray, labels: np.ndarray, n_train: int, n_valid: int,
          n_test: int | None = None) -> tuple[Split, Split, Split]:
    """Cut images and labels into contiguous train, validation and test splits (views, no copy).

    Parameters
    ----------
    images, labels : numpy.ndarray
        Same length along the first axis.
    n_train, n_valid : int
        Sizes of the first two splits, taken in order from the start.
    n_test : int, optional
        Size of the third split, taken right after; default: everything left.

    Returns
    -------
    tuple of Split
        ``(train, valid, test)``.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    if n_test is None:
        n_test = n - n_train - n_valid
    sizes = (n_train, n_valid, n_test)
    if min(sizes) < 0 or sum(sizes) > n:
        raise ValueError(f"cannot split {n} examples into train={n_train}, valid={n_valid}, "
                         f"test={n_test}")
    a, b, c = n_train, n_train + n_valid, n_train + n_valid + n_test
    return (Split(images[:a], labels[:a]), Split(images[a:b], labels[a:b]),
            Split(images[b:c], labels[b:c]))


def _floatx() -> str:
    try:
        from symconv.config import config
        return str(config.floatX)
    except ImportError:  # the config module is optional for this one
        return "float64"


def to_float(images: np.ndarray, dtype: str | np.dtype | None = None) -> np.ndarray:
    """Scale uint8 images to floats in [0, 1], flattened to ``(n, pixels)``.

    The layout of the Theano tutorial's ``mnist.pkl.gz`` ((n, 784) rows). That file divided
    by 256, so its maximum was 0.996; this divides by 255, so 255 maps to exactly 1.

    Parameters
    ----------
    images : numpy.ndarray
        uint8, shape ``(n, ...)``; every axis after the first is flattened.
    dtype : str or numpy.dtype, optional
        Result dtype; default ``symconv.config.floatX`` (float64 when that is not importable).

    Returns
    -------
    numpy.ndarray
        ``(n, prod(images.shape[1:]))`` of ``dtype``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 images (0-255), got {images.dtype}")
    if images.ndim < 1:
        raise ValueError("to_float expects a batch of images with a leading axis")
    out = images.reshape(len(images), -1).astype(dtype or _floatx())
    # divide rather than multiply by 1/255: division is exact at 0 and 255 in every float dtype
    out /= 255
    return out
