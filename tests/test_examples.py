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

import logistic_sgd
import mlp
import tutorial_common

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
    assert out.startswith("data: the MNIST sample shipped in symconv: 120 train / 40 "
                          "validation / 40 test")
    assert summary["epochs"] == 1 and summary["best_epoch"] == 1
    assert np.isfinite(summary["costs"][0]) and 0 <= summary["best_validation_error"] <= 1


def test_examples_show_help():
    for script in ("logistic_sgd.py", "mlp.py"):
        proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"],
                              capture_output=True, text=True, timeout=60, cwd=EXAMPLES,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        assert "--data DIR" in proc.stdout and "--plot PNG" in proc.stdout


def test_minimal_progress_bar_counts_and_estimates(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = tutorial_common._MinimalBar(5, "epoch 1/1", disable=False)
    for _ in range(5):
        bar.update(1)
    bar.write("epoch 1 done")
    captured = capsys.readouterr()
    assert bar.n == 5 and "epoch 1/1 [" in captured.err and "5/5 ETA" in captured.err
    assert captured.out == "epoch 1 done\n"


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


@pytest.mark.skipif(not models.has_conv(), reason="conv2d not available")
def test_lenet_trains_saves_filters_and_reloads(idx_dir, tmp_path, capsys):
    import lenet
    params, filters = tmp_path / "params.npz", tmp_path / "filters.png"
    small = ["--data", str(idx_dir), "--batch-size", "20", "--nkerns", "4", "6", "--quiet"]
    trained = lenet.main(small + ["--epochs", "1", "--save", str(params),
                                  "--show-filters", str(filters)])
    assert trained["epochs"] == 1 and np.isfinite(trained["costs"][0])
    assert filters.read_bytes()[:8] == PNG_MAGIC
    with np.load(params) as saved:
        assert saved["conv0_W"].shape == (4, 1, 5, 5)
    # Reloading the saved parameters reproduces the best model's errors exactly.
    reloaded = lenet.main(small + ["--epochs", "0", "--load", str(params)])
    assert reloaded["test_error"] == trained["test_error"]
    assert reloaded["best_validation_error"] == trained["best_validation_error"]
    with pytest.raises(SystemExit, match="conv0_W is float64\\[4, 1, 5, 5\\], this network "
                                         "needs float64\\[5, 1, 5, 5\\]"):
        lenet.main(["--data", str(idx_dir), "--batch-size", "20", "--nkerns", "5", "6",
                    "--epochs", "0", "--load", str(params)])


@pytest.mark.skipif(not models.has_conv(), reason="conv2d not available")
def test_filter_photo_feature_maps_match_a_direct_convolution(tmp_path):
    pytest.importorskip("PIL")
    import filter_photo
    out = tmp_path / "filtered.png"
    maps = filter_photo.main(["--out", str(out)])
    assert out.read_bytes()[:8] == PNG_MAGIC
    from PIL import Image
    image = np.asarray(Image.open(datasets.sample_image_path()).convert("RGB")) / 256.
    h, w, _ = image.shape
    assert maps.shape == (2, h - 8, w - 8)
    # Recompute one output pixel by hand: a true convolution (flipped filters) plus bias.
    rng = np.random.RandomState(23455)
    bound = np.sqrt(3 * 9 * 9)
    W = rng.uniform(low=-1.0 / bound, high=1.0 / bound, size=(2, 3, 9, 9))
    b = rng.uniform(low=-.5, high=.5, size=2)
    patch = image[10:19, 20:29].transpose(2, 0, 1)
    for k in range(2):
        expected = 1 / (1 + np.exp(-((patch * W[k, :, ::-1, ::-1]).sum() + b[k])))
        assert maps[k, 10, 20] == pytest.approx(expected, rel=1e-10)
