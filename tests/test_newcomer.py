"""What a newcomer meets first: the examples' data and split, checks made before any work,
the demo's options, and symconv-bench --version."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symconv
from symconv import datasets
from symconv.bench import models

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import logistic_sgd  # noqa: E402
import tutorial_common  # noqa: E402


@pytest.fixture
def four_files(tmp_path):
    """The standard train/t10k layout, 240 training and 60 test digits of the sample."""
    sample = datasets.load_mnist_sample()
    for name, lo, hi in (("train", 0, 240), ("t10k", 240, 300)):
        datasets.save_idx(tmp_path / f"{name}-images-idx3-ubyte.gz", sample.images[lo:hi])
        datasets.save_idx(tmp_path / f"{name}-labels-idx1-ubyte.gz", sample.labels[lo:hi])
    return tmp_path


@pytest.fixture
def no_default_data(monkeypatch, tmp_path):
    """A fresh clone: no ../shared beside it and no full MNIST installed."""
    monkeypatch.setattr(tutorial_common, "DEFAULT_DATA", tmp_path / "absent")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SYMCONV_DATA", raising=False)


def test_four_file_layout_uses_the_test_file_as_test(four_files):
    data = tutorial_common.load_splits(str(four_files))
    sizes = [len(y) for _, y in data.parts]
    assert sizes == [200, 40, 60]  # 5/6 of the training file trains (50,000 of 60,000)
    expected = datasets.load_mnist_sample().labels[240:300]
    np.testing.assert_array_equal(data.parts[2][1], expected)
    assert data.description == (f"data: {four_files}: 200 train + 40 validation from the "
                                "training file, 60 test from the test file")


def test_unsplit_file_is_split_60_20_20_without_a_cap():
    images, labels = np.zeros((12000, 784)), np.arange(12000)
    assert [len(y) for _, y in tutorial_common.split(images, labels)] == [7200, 2400, 2400]


def test_default_batch_size_shrinks_to_the_data_and_an_explicit_one_must_fit(
        no_default_data, capsys):
    summary = logistic_sgd.main(["--epochs", "1", "--quiet"])  # tutorial's 600 > 400 valid
    out = capsys.readouterr().out
    assert "note: batch size 100 instead of the tutorial's 600" in out
    assert out.splitlines()[0].startswith("data: the MNIST sample shipped in symconv: 1,200")
    assert summary["epochs"] == 1
    for bad, message in (("500", "larger than the smallest split \\(400"),
                         ("0", "at least 1")):
        with pytest.raises(SystemExit, match=message):
            logistic_sgd.main(["--epochs", "1", "--batch-size", bad])


def test_outputs_and_optional_libraries_are_checked_before_any_work(monkeypatch, tmp_path):
    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the output paths were checked")
    monkeypatch.setattr(tutorial_common, "load_splits", no_data)
    monkeypatch.setattr(logistic_sgd, "load_splits", no_data)
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(SystemExit, match=f"--save {missing}/m.pkl: folder {missing} does not"):
        logistic_sgd.main(["--save", str(missing / "m.pkl")])
    with pytest.raises(SystemExit, match="--plot .*does not exist"):
        logistic_sgd.main(["--plot", str(missing / "c.png")])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(SystemExit, match="--plot needs matplotlib: pip install"):
        logistic_sgd.main(["--plot", str(tmp_path / "c.png")])


def test_save_writes_the_users_path_atomically(tmp_path):
    target = tmp_path / "model.bin"
    tutorial_common.write_atomically(str(target), lambda f: f.write(b"first"))
    with pytest.raises(RuntimeError):
        def broken(f):
            f.write(b"half")
            raise RuntimeError("disk full")
        tutorial_common.write_atomically(str(target), broken)
    assert target.read_bytes() == b"first"  # the old file survives a failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # no temp file left


def test_image_grid_has_a_colour_bar_and_titles(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image
    path = tmp_path / "grid.png"
    filters = np.random.default_rng(0).normal(size=(6, 5, 5))
    tutorial_common.image_grid(str(path), filters, [f"filter {k}" for k in range(6)],
                               "six filters", "weight", cmap="RdBu_r", symmetric=True)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape[0] > 200 and image.shape[1] > 300  # large enough to read
    # the colour bar's red-to-blue strip sits right of the grid
    right = image[:, int(image.shape[1] * 0.8):]
    reddish = (right[..., 0] > 150) & (right[..., 2] < 100)
    bluish = (right[..., 2] > 150) & (right[..., 0] < 100)
    assert reddish.sum() > 20 and bluish.sum() > 20


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size must be between 1 and 1,500"),
    (["--batch-size", "2000"], "--batch-size must be between 1 and 1,500"),
    (["--epochs", "-1"], "--epochs must be 0 or more"),
])
def test_demo_rejects_bad_sizes_before_training(argv, message, capsys):
    from symconv import demo
    with pytest.raises(SystemExit) as exit_info:
        demo.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_demo_takes_floatx_from_the_flags_unless_given(monkeypatch, capsys):
    from symconv import demo
    seen = []
    monkeypatch.setattr(demo, "run", lambda *a: seen.append(symconv.config.floatX))
    monkeypatch.setitem(symconv.config.sources, "floatX", "SYMCONV_FLAGS")
    with symconv.config.change_flags(floatX="float64"):
        demo.main(["--model", "mlp"])
        demo.main(["--model", "mlp", "--floatX", "float32"])
    monkeypatch.delitem(symconv.config.sources, "floatX")
    demo.main(["--model", "mlp"])
    assert seen == ["float64", "float32", "float32"]


def test_demo_floatx_from_the_environment_in_a_fresh_process():
    import os
    env = dict(os.environ, SYMCONV_FLAGS="floatX=float64")
    done = subprocess.run([sys.executable, "-m", "symconv.demo", "--model", "mlp", "--epochs",
                           "0"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "float64" in done.stdout.splitlines()[0]


def test_bench_version(capsys):
    from symconv.bench import cli
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"symconv-bench {symconv.__version__}"


@pytest.mark.skipif(not models.has_conv(), reason="conv2d not available")
def test_lenet_reads_fashion_mnist_from_a_folder(tmp_path, capsys):
    import lenet
    # a tiny stand-in with the four files (the real one is 70,000 images)
    sample = datasets.load_mnist_sample()
    for name, lo, hi in (("train", 0, 60), ("t10k", 60, 80)):
        datasets.save_idx(tmp_path / f"{name}-images-idx3-ubyte.gz", sample.images[lo:hi])
        datasets.save_idx(tmp_path / f"{name}-labels-idx1-ubyte.gz", sample.labels[lo:hi])
    summary = lenet.main(["--dataset", "fashion-mnist", "--data", str(tmp_path), "--epochs",
                          "1", "--batch-size", "10", "--nkerns", "2", "3", "--quiet"])
    assert summary["epochs"] == 1
    assert "50 train + 10 validation from the training file, 20 test" in capsys.readouterr().out


def test_bench_run_with_a_bad_flag_is_one_line_and_exit_2():
    import os
    env = dict(os.environ, SYMCONV_FLAGS="floatx=float32")
    done = subprocess.run([sys.executable, "-m", "symconv.bench", "run", "pool", "--repeat",
                           "1", "--batch", "2"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "unknown flag 'floatx' in SYMCONV_FLAGS (did you mean 'floatX'?)" in done.stderr
    assert "Traceback" not in done.stderr
