"""Run by tests/test_distributed.py under ``mpiexec -n 2``: ``examples/lenet.py --distributed``
trains one epoch and saves (rank 0 only), then ``--load`` resumes on both ranks; each rank
writes how often it saved, the parameters it resumed with and the errors it measured."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import lenet  # noqa: E402

from symconv import distributed  # noqa: E402

data_dir, params_path, out = sys.argv[1:4]
seen = {"saves": 0, "params": None}
save, load = lenet.save_params, lenet.load_params


def counting_save(path, params):
    seen["saves"] += 1
    save(path, params)


def capturing_load(path, params):
    load(path, params)
    seen["params"] = params   # the network's variables: read again after main() returns


lenet.save_params, lenet.load_params = counting_save, capturing_load
small = ["--data", data_dir, "--batch-size", "20", "--nkerns", "2", "3", "--quiet",
         "--distributed"]
trained = lenet.main(small + ["--epochs", "1", "--save", params_path])
resumed = lenet.main(small + ["--epochs", "0", "--load", params_path])
arrays = {name: p.get_value() for name, p in zip(lenet.PARAM_NAMES, seen["params"])}
np.savez(f"{out}.{distributed.rank()}.npz", saves=seen["saves"],
         trained_valid=trained["best_validation_error"], trained_test=trained["test_error"],
         resumed_valid=resumed["best_validation_error"], resumed_test=resumed["test_error"],
         **arrays)
