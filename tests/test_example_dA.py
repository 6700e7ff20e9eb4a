"""examples/dA.py (DeepLearningTutorials' denoising autoencoder) trains on a slice of data."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from symconv import datasets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import dA  # noqa: E402


def test_dA_trains_with_and_without_corruption(tmp_path, capsys):
    sample = datasets.load_mnist_sample()
    datasets.save_idx(tmp_path / "images-idx3-ubyte.gz", sample.images[:100])
    datasets.save_idx(tmp_path / "labels-idx1-ubyte.gz", sample.labels[:100])
    summary = dA.main(["--data", str(tmp_path), "--epochs", "3", "--n-hidden", "30",
                       "--quiet"])
    clean, noisy = np.array(summary["costs_0"]), np.array(summary["costs_30"])
    assert len(clean) == len(noisy) == 3 and np.isfinite(clean).all()
    assert (np.diff(clean) < 0).all() and (np.diff(noisy) < 0).all()   # SGD lowers the cost
    assert not np.allclose(clean, noisy)      # the corruption masks change the training
    assert "Training epoch 2, cost" in capsys.readouterr().out
