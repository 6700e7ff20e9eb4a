"""Tests for symconv.datasets: IDX files, data directory layouts, mirror downloads, shipped sample.

Downloads go to a local HTTP server on 127.0.0.1; nothing here needs the internet.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import symconv
from symconv import datasets as ds

SHARED = Path(__file__).resolve().parents[2] / "shared"
MNIST_10K = SHARED / "datasets" / "mnist-10k"
needs_shared = pytest.mark.skipif(not MNIST_10K.is_dir(),
                                  reason=f"{MNIST_10K} absent (only dev machines and CI have it)")

CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None) -> bytes:
    """A writer independent of symconv's: big-endian header and data, per the IDX spec."""
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = CODES[big.str.lstrip("|")] if code is None else code
    return (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(big).tobytes())


def write_idx(path: Path, array: np.ndarray, gz: bool | None = None, **kwargs) -> Path:
    body = idx_bytes(array, **kwargs)
    if gz if gz is not None else path.name.endswith(".gz"):
        body = gzip.compress(body)
    path.write_bytes(body)
    return path


def fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


def write_four(directory: Path, gz: bool = True, n_train: int = 12, n_test: int = 5) -> dict:
    """The standard four-file layout with fake digits; returns {file name: array}."""
    directory.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = fake_mnist(n_train, 1), fake_mnist(n_test, 2)
    arrays = dict(zip(ds.FILES, (xtr, ytr, xte, yte)))
    for name, arr in arrays.items():
        write_idx(directory / (name if gz else name.removesuffix(".gz")), arr, gz=gz)
    return arrays


# ---------------------------------------------------------------------------------------------
# IDX files

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype,shape", [("u1", (3, 28, 28)), ("i1", (7,)), (">i2", (2, 3, 4, 5)),
                                         (">i4", (4, 0)), (">f4", (5, 2)), (">f8", (1, 1, 1))])
def test_idx_round_trip(tmp_path, rng, dtype, shape, gz):
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / "a.idx", arr, gz=gz)
    got = ds.load_idx(path)
    assert got.shape == shape and got.dtype == arr.dtype.newbyteorder("=")
    assert got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, arr)
    # and back out through save_idx: the same bytes as the independent writer
    ds.save_idx(tmp_path / "b.idx.gz", got)
    assert gzip.decompress((tmp_path / "b.idx.gz").read_bytes()) == idx_bytes(arr)
    ds.save_idx(tmp_path / "b.idx", got)
    assert (tmp_path / "b.idx").read_bytes() == idx_bytes(arr)


def test_idx_from_file_object_and_gz_detected_by_content(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(ds.load_idx(io.BytesIO(gzip.compress(idx_bytes(arr)))), arr)
    # unpacked by hand but still named .gz: read by content, not by name
    path = write_idx(tmp_path / "x-idx2-ubyte.gz", arr, gz=False)
    np.testing.assert_array_equal(ds.load_idx(path), arr)


def test_save_idx_is_reproducible_and_rejects_other_dtypes(tmp_path):
    arr = np.ones((2, 2), np.uint8)
    ds.save_idx(tmp_path / "a.gz", arr)
    ds.save_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    with pytest.raises(TypeError, match="int64"):
        ds.save_idx(tmp_path / "c", np.ones(3, np.int64))


def _corrupt_cases(good: bytes) -> dict[str, tuple[bytes, str]]:
    return {
        "empty": (b"", "not an IDX file"),
        "bad magic": (b"\x01\x00" + good[2:], "not an IDX file"),
        "unknown type": (good[:2] + b"\x0A" + good[3:], "unknown IDX element type 0x0A"),
        "short header": (good[:6], "truncated header"),
        "truncated data": (good[:-1], "truncated"),
        "trailing bytes": (good + b"\x00", "trailing bytes"),
        "truncated gzip": (gzip.compress(good)[:-10], "corrupt or truncated gzip"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases(b"")))
def test_idx_errors_name_the_file(tmp_path, case):
    good = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    data, message = _corrupt_cases(good)[case]
    path = tmp_path / f"broken-{case.replace(' ', '-')}"
    path.write_bytes(data)
    with pytest.raises(ds.IDXFormatError, match=message) as err:
        ds.load_idx(path)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------------------------------------
# directory layouts and validation

@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_four_file_layout(tmp_path, gz):
    arrays = write_four(tmp_path / "m", gz=gz)
    data = ds.load_mnist(tmp_path / "m", download=False)
    assert list(data.splits) == ["train", "test"] and len(data) == 17
    np.testing.assert_array_equal(data.train.images, arrays[ds.TRAIN_IMAGES])
    np.testing.assert_array_equal(data["test"].labels, arrays[ds.TEST_LABELS])
    # .images/.labels: every digit in file order, train first
    np.testing.assert_array_equal(data.images[12:], arrays[ds.TEST_IMAGES])
    assert data.labels.shape == (17,) and data.images.dtype == np.uint8
    images, labels = data.train
    assert images.shape == (12, 28, 28) and labels.shape == (12,)
    assert data.class_names == tuple("0123456789") and data.source == tmp_path / "m"
    assert "train=12" in repr(data)


def test_single_pair_layout(tmp_path):
    x, y = fake_mnist(9, 3)
    write_idx(tmp_path / "images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "labels-idx1-ubyte.gz", y)
    data = ds.load_mnist(tmp_path, download=False)
    assert list(data.splits) == ["all"]
    assert data.images is data["all"].images  # one split: no copy
    np.testing.assert_array_equal(data.labels, y)
    with pytest.raises(KeyError, match="split"):
        data.train


def test_kaggle_spelling_is_found(tmp_path):
    arrays = write_four(tmp_path, gz=False)
    for name in ds.FILES:
        stem = name.removesuffix(".gz")
        (tmp_path / stem).rename(tmp_path / stem.replace("-idx", ".idx"))
    np.testing.assert_array_equal(ds.load_mnist(tmp_path, download=False).train.labels,
                                  arrays[ds.TRAIN_LABELS])


def test_layout_validation_errors_name_the_file(tmp_path):
    x, y = fake_mnist(4, 4)
    images, labels = tmp_path / "images-idx3-ubyte.gz", tmp_path / "labels-idx1-ubyte.gz"
    write_idx(images, x)
    write_idx(labels, y[:3])
    with pytest.raises(ds.IDXFormatError, match="4 images but .* 3 labels"):
        ds.load_mnist(tmp_path, download=False)
    write_idx(labels, y.astype(">i4"))  # magic 0x0C01, not 0x801
    with pytest.raises(ds.IDXFormatError, match="expected magic 0x801") as err:
        ds.load_mnist(tmp_path, download=False)
    assert str(labels) in str(err.value)
    write_idx(labels, np.full(4, 10, np.uint8))
    with pytest.raises(ds.IDXFormatError, match="label 10 out of range"):
        ds.load_mnist(tmp_path, download=False)
    write_idx(labels, y)
    write_idx(images, np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(ds.IDXFormatError, match=r"\(32, 32\), expected \(28, 28\)"):
        ds.load_mnist(tmp_path, download=False)


def test_unknown_kind():
    with pytest.raises(ValueError, match="fashion-mnist"):
        ds.load_mnist(kind="cifar10", download=False)


@pytest.fixture
def no_default_dirs(tmp_path, monkeypatch):
    """Point every default search directory into tmp_path."""
    monkeypatch.delenv("SYMCONV_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setitem(ds.DEBIAN_DIRS, "fashion-mnist", tmp_path / "debian" / "fashion-mnist")
    return tmp_path


def test_search_order(no_default_dirs, monkeypatch):
    tmp = no_default_dirs
    home_cache = tmp / "home" / ".cache" / "symconv" / "fashion-mnist"
    assert ds.search_paths("fashion-mnist") == [home_cache, tmp / "debian" / "fashion-mnist"]
    write_four(tmp / "debian" / "fashion-mnist", n_train=3)
    assert len(ds.load_mnist(kind="fashion-mnist", download=False).train) == 3
    write_four(home_cache, n_train=4)
    data = ds.load_mnist(kind="fashion-mnist", download=False)
    assert len(data.train) == 4 and data.class_names[-1] == "Ankle boot"
    monkeypatch.setenv("SYMCONV_DATA", str(tmp / "env"))
    assert ds.search_paths("mnist")[0] == tmp / "env" / "mnist"
    write_four(tmp / "env" / "fashion-mnist", n_train=5)
    assert len(ds.load_mnist(kind="fashion-mnist", download=False).train) == 5


def test_offline_error_says_where_to_put_the_files(no_default_dirs):
    with pytest.raises(ds.DatasetNotFoundError) as err:
        ds.load_mnist(download=False)
    message = str(err.value)
    assert "download=False" in message and ds.TRAIN_IMAGES in message
    assert str(no_default_dirs / "home" / ".cache" / "symconv" / "mnist") in message
    assert "load_mnist(path=" in message
    assert isinstance(err.value, FileNotFoundError)


# ---------------------------------------------------------------------------------------------
# downloads from a local server

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve tmp_path/www on 127.0.0.1; returns its base URL."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # a proxy would never reach our server
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # a short poll interval keeps shutdown (each test's teardown) fast
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url():
    """A URL on a port where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def publish(root: Path, corrupt: bool = False) -> tuple[dict, dict]:
    """Good files (or corrupt ones) under root; returns (arrays, sha256 of the good files)."""
    arrays = write_four(root)
    sums = {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in ds.FILES}
    if corrupt:
        for f in ds.FILES:
            data = bytearray((root / f).read_bytes())
            data[len(data) // 2] ^= 0xFF
            (root / f).write_bytes(bytes(data))
    return arrays, sums


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_verifies_and_writes_atomically(tmp_path, server, capsys):
    arrays, sums = publish(tmp_path / "www" / "good")
    dest = tmp_path / "data"
    data = ds.load_mnist(dest, mirrors=[server + "/good/"], checksums=sums)
    np.testing.assert_array_equal(data.train.images, arrays[ds.TRAIN_IMAGES])
    assert leftovers(dest) == sorted(ds.FILES)  # no temporary files left behind
    assert f"{server}/good/{ds.TRAIN_IMAGES}: downloaded" in capsys.readouterr().err
    # a second load reads the disk, so a dead mirror list no longer matters
    assert len(ds.load_mnist(dest, mirrors=[], checksums={})) == 17


def test_corrupt_mirror_falls_through_to_the_next(tmp_path, server):
    publish(tmp_path / "www" / "bad", corrupt=True)
    arrays, sums = publish(tmp_path / "www" / "good")
    data = ds.load_mnist(tmp_path / "data", mirrors=[server + "/bad", server + "/good"],
                         checksums=sums, progress=False)
    np.testing.assert_array_equal(data.test.labels, arrays[ds.TEST_LABELS])
    assert leftovers(tmp_path / "data") == sorted(ds.FILES)


def test_corrupt_everywhere_errors_and_leaves_no_partial_file(tmp_path, server):
    _, sums = publish(tmp_path / "www" / "bad", corrupt=True)
    dest = tmp_path / "data"
    with pytest.raises(ds.DownloadError) as err:
        ds.load_mnist(dest, mirrors=[server + "/bad/"], checksums=sums, progress=False)
    message = str(err.value)
    assert "SHA-256 mismatch" in message and f"{server}/bad/{ds.TRAIN_IMAGES}" in message
    assert str(dest) in message
    assert leftovers(dest) == []


def test_dead_mirror_then_good_one(tmp_path, server, dead_url):
    arrays, sums = publish(tmp_path / "www" / "good")
    data = ds.load_mnist(tmp_path / "data", mirrors=[dead_url, server + "/good/"],
                         checksums=sums, progress=False, timeout=5)
    np.testing.assert_array_equal(data.train.labels, arrays[ds.TRAIN_LABELS])


def test_every_mirror_dead_lists_the_urls_tried(tmp_path, server, dead_url):
    missing = server + "/nothing-here/"  # answers 404
    with pytest.raises(ds.DownloadError) as err:
        ds.load_mnist(tmp_path / "data", mirrors=[dead_url, missing], progress=False, timeout=5)
    message = str(err.value)
    assert dead_url + ds.TRAIN_IMAGES in message and missing + ds.TRAIN_IMAGES in message
    assert "404" in message and str(tmp_path / "data") in message
    assert leftovers(tmp_path / "data") == []


def test_only_missing_files_are_downloaded(tmp_path, server):
    arrays, sums = publish(tmp_path / "www" / "good")
    dest = tmp_path / "data"
    dest.mkdir()
    for name in (ds.TRAIN_IMAGES, ds.TRAIN_LABELS):
        (tmp_path / "www" / "good" / name).rename(dest / name)  # the server no longer has them
    data = ds.load_mnist(dest, mirrors=[server + "/good/"], checksums=sums, progress=False)
    np.testing.assert_array_equal(data.test.images, arrays[ds.TEST_IMAGES])


def test_default_download_goes_to_symconv_data(tmp_path, server, no_default_dirs, monkeypatch):
    _, sums = publish(tmp_path / "www" / "good")
    monkeypatch.setenv("SYMCONV_DATA", str(tmp_path / "env"))
    data = ds.load_mnist(mirrors=[server + "/good/"], checksums=sums, progress=False)
    assert data.source == tmp_path / "env" / "mnist"
    assert leftovers(tmp_path / "env" / "mnist") == sorted(ds.FILES)


def test_missing_checksum_is_refused_before_any_download(tmp_path, server):
    with pytest.raises(ValueError, match="no checksum given"):
        ds.load_mnist(tmp_path / "data", mirrors=[server], checksums={})


def test_published_checksums_and_mirrors_are_complete():
    for kind in ("mnist", "fashion-mnist"):
        assert set(ds.SHA256[kind]) == set(ds.FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in ds.SHA256[kind].values())
        assert ds.MIRRORS[kind] and len(ds.CLASS_NAMES[kind]) == 10
    assert ds.MIRRORS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


# ---------------------------------------------------------------------------------------------
# shipped sample data

def test_sample_loads_without_network():
    sample = ds.load_mnist_sample()
    assert sample.images.shape == (2000, 28, 28) and sample.images.dtype == np.uint8
    assert sample.labels.shape == (2000,) and sample.labels.dtype == np.uint8
    assert set(np.unique(sample.labels)) == set(range(10))
    assert sample.images.max() == 255 and sample.images.min() == 0
    # every class well represented: the source was shuffled once
    assert np.bincount(sample.labels).min() > 150


def test_package_data_is_small():
    total = sum(p.stat().st_size for p in ds.DATA_DIR.iterdir())
    assert total <= 2_000_000


def test_sample_image():
    pil = pytest.importorskip("PIL.Image")
    path = ds.sample_image_path()
    assert path.is_file() and path.suffix == ".png"
    with pil.open(path) as img:
        assert img.size == (150, 100) and img.mode == "RGB"


@needs_shared
def test_sample_is_the_first_2000_of_the_shared_10k():
    ten_k = ds.load_mnist(MNIST_10K, download=False)
    assert len(ten_k) == 10_000
    # class counts published in shared/README.md
    assert np.bincount(ten_k.labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070,
                                                  944, 978]
    sample = ds.load_mnist_sample()
    np.testing.assert_array_equal(sample.images, ten_k.images[:2000])
    np.testing.assert_array_equal(sample.labels, ten_k.labels[:2000])


# ---------------------------------------------------------------------------------------------
# split and to_float

def test_split_is_contiguous_views():
    x, y = fake_mnist(10, 5)
    train, valid, test = ds.split(x, y, 5, 3, 1)
    assert (len(train), len(valid), len(test)) == (5, 3, 1)
    np.testing.assert_array_equal(valid.images, x[5:8])
    assert np.shares_memory(train.images, x)
    assert len(ds.split(x, y, 5, 3)[2]) == 2  # n_test defaults to the rest
    with pytest.raises(ValueError, match="cannot split 10"):
        ds.split(x, y, 8, 3)
    with pytest.raises(ValueError, match="labels"):
        ds.split(x, y[:9], 1, 1)


def test_dataset_split_gives_theano_partition(tmp_path):
    arrays = write_four(tmp_path)
    train, valid, test = ds.load_mnist(tmp_path, download=False).split(10, 2, 5)
    np.testing.assert_array_equal(valid.images, arrays[ds.TRAIN_IMAGES][10:])
    np.testing.assert_array_equal(test.labels, arrays[ds.TEST_LABELS])


def test_to_float_uses_floatx():
    images = np.array([[[0, 255], [51, 102]]], np.uint8)
    out = ds.to_float(images)
    assert out.dtype == np.float64 and out.shape == (1, 4)
    np.testing.assert_array_equal(out, [[0.0, 1.0, 0.2, 0.4]])
    with symconv.config.change_flags(floatX="float32"):
        assert ds.to_float(images).dtype == np.float32
    half = ds.to_float(images, dtype="float16")
    assert half.dtype == np.float16 and half.max() == 1.0
    with pytest.raises(TypeError, match="uint8"):
        ds.to_float(images.astype(np.float32))
