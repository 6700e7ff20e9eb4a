"""The tutorial examples and the demo run end to end on a tiny slice of data, one epoch."""
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
import mlp  # noqa: E402
import tutorial_common  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def idx_dir(tmp_path):
    """A data folder of 100 digits from the shipped sample, in the unsplit IDX layout."""
    sample = datasets.load_mnist_sample()
    datasets.save_idx(tmp_path / "images-idx3-ubyte.gz", sample.images[:100])
    datasets.save_idx(tmp_path / "labels-idx1-ubyte.gz", sample.labels[:100])
    return tmp_path


def test_split_is_the_tutorials_6000_2000_2000():
    images, labels = np.zeros((10000, 784)), np.arange(10000)
    parts = tutorial_common.split(images, labels)
    assert [len(y) for _, y in parts] == [6000, 2000, 2000]
    assert [int(y[0]) for _, y in parts] == [0, 6000, 8000]
    assert [len(y) for _, y in tutorial_common.split(images[:500], labels[:500])] == [300, 100, 100]


def test_logistic_one_epoch_with_plot_and_pickled_predict(idx_dir, tmp_path, capsys):
    plot, model = tmp_path / "curves.png", tmp_path / "best.pkl"
    summary = logistic_sgd.main(["--data", str(idx_dir), "--epochs", "2", "--batch-size", "20",
                                 "--plot", str(plot), "--save", str(model), "--quiet"])
    out = capsys.readouterr().out
    assert summary["epochs"] == 2 and len(summary["costs"]) == 2
    assert summary["costs"][1] < summary["costs"][0]  # SGD lowers the training cost
    assert 0 <= summary["test_error"] < 0.9
    assert "Optimization complete" in out and "Predicted values" in out
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert model.stat().st_size > 0


def test_mlp_one_epoch_on_the_shipped_sample(capsys, monkeypatch):
    # No --data and no ../shared: the examples fall back to the sample shipped in the package.
    monkeypatch.setattr(tutorial_common, "DEFAULT_DATA", Path("/nonexistent"))
    summary = mlp.main(["--limit", "200", "--epochs", "1", "--batch-size", "20",
                        "--n-hidden", "16", "--quiet"])
    out = capsys.readouterr().out
    assert "the MNIST sample shipped in symconv" in out
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    assert np.isfinite(summary["costs"][0]) and 0 <= summary["best_validation_error"] <= 1


def test_examples_show_help():
    for script in ("logistic_sgd.py", "mlp.py"):
        proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"],
                              capture_output=True, text=True, timeout=60, cwd=EXAMPLES)
        assert proc.returncode == 0, proc.stderr
        assert "--data DIR" in proc.stdout and "--plot PNG" in proc.stdout


def test_minimal_progress_bar_yields_everything(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = tutorial_common._MinimalBar(range(5), "epoch 1", disable=False)
    bar.set_postfix_str("cost 0.5")
    assert list(bar) == [0, 1, 2, 3, 4]
    assert "epoch 1 [" in capsys.readouterr().err


def test_plot_curves_draws_both_panels(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    path = tmp_path / "c.png"
    tutorial_common.plot_curves(str(path), [2.0, 1.0, 0.5], [0.3, 0.2, 0.25], "t")
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    blue = (abs(image - [31, 119, 180]).sum(axis=2) < 30)
    red = (abs(image - [214, 39, 40]).sum(axis=2) < 30)
    half = image.shape[1] // 2
    # The cost curve is drawn in the left panel, the validation error in the right one.
    assert blue[:, :half].sum() > 50 and blue[:, half:].sum() == 0
    assert red[:, half:].sum() > 50 and red[:, :half].sum() == 0


@pytest.mark.parametrize("model", ["mlp", "lenet"])
def test_demo_trains_and_reports(model, capsys):
    from symconv import demo
    if model == "lenet" and not models.has_conv():
        pytest.skip("conv2d not available")
    before = symconv.config.floatX
    status = demo.main(["--model", model, "--epochs", "1", "--batch-size", "100"])
    out = capsys.readouterr().out
    assert status == 0
    assert "epoch  1" in out and "images/s" in out
    accuracy = float(out.split("final test accuracy ")[1].split("%")[0])
    assert accuracy > 50  # one epoch on 1,500 digits is far better than chance (10%)
    assert symconv.config.floatX == before  # the demo's floatX override is scoped
