"""Run the DeepLearningTutorials scripts on symconv with only their imports renamed.

Usage:
    python benchmarks/dlt_tutorials.py --code PATH/TO/DeepLearningTutorials/code [--only rbm,dA]
        [--json benchmarks/results/dlt_tutorials.json]

The tutorials (github:lisa-lab/DeepLearningTutorials, ``code/``) are not part of symconv: bring
them yourself (``git clone``). Each script is copied into a scratch folder with the word
``theano`` replaced by ``symconv`` (what a user does with sed), small data files of the formats
the tutorials download are written there (an MNIST pickle made of the real digits shipped with
symconv, an ATIS fold and an IMDB pickle with random sentences, random piano rolls behind a
stand-in for the python-midi package that rnnrbm imports), and each tutorial's own test
entry point (as in its ``test.py``, with smaller settings) runs in a fresh process. Prints one
line per tutorial and writes a JSON record: whether it ran, its wall time and its last lines.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# name -> (python statements run in the scratch folder, what it needs)
TUTORIALS: dict[str, str] = {
    "logistic_sgd": "import logistic_sgd; logistic_sgd.sgd_optimization_mnist(n_epochs=2)",
    "logistic_cg": "import logistic_cg; logistic_cg.cg_optimization_mnist(n_epochs=2)",
    "mlp": "import mlp; mlp.test_mlp(n_epochs=1, batch_size=100, n_hidden=50)",
    "convolutional_mlp": "import convolutional_mlp; "
                         "convolutional_mlp.evaluate_lenet5(n_epochs=1, nkerns=[5, 5], "
                         "batch_size=100)",
    "dA": "import dA; dA.test_dA(training_epochs=1, batch_size=100, output_folder='dA_plots')",
    "SdA": "import SdA; SdA.test_SdA(pretraining_epochs=1, training_epochs=1, batch_size=100)",
    "DBN": "import DBN; DBN.test_DBN(pretraining_epochs=1, training_epochs=1, batch_size=100)",
    "rbm": "import rbm; rbm.test_rbm(training_epochs=1, batch_size=100, n_chains=1, "
           "n_samples=1, n_hidden=20, output_folder='rbm_plots')",
    "rnnslu": "import rnnslu; rnnslu.main({'fold': 3, 'data': 'atis', 'lr': 0.0970806646812754, "
              "'verbose': 1, 'decay': True, 'win': 7, 'nhidden': 20, 'seed': 345, "
              "'emb_dimension': 10, 'nepochs': 1, 'savemodel': False})",
    "lstm": "import lstm; lstm.train_lstm(max_epochs=1, test_size=50, dim_proj=16, "
            "n_words=200, batch_size=16, valid_batch_size=16, dispFreq=5, validFreq=20, "
            "saveFreq=10000, saveto='lstm_model.npz', maxlen=30)",
    "hmc": "import sys; sys.path.insert(0, 'hmc'); import test_hmc; test_hmc.test_hmc()",
    "rnnrbm": "import rnnrbm; rnnrbm.test_rnnrbm(batch_size=50, num_epochs=1)",
}
NEEDS_OTHER: dict[str, str] = {}

# rnnrbm reads MIDI files through the python-midi package (Python 2 only); a stand-in with the
# two functions it calls stores piano rolls as .npy bytes in files named *.mid
MIDI_STANDIN = '''"""Stand-in for python-midi's utils (written by symconv's dlt_tutorials.py)."""
import numpy


class midiread:
    def __init__(self, filename, r=(21, 109), dt=0.2):
        self.piano_roll = numpy.load(filename)[:, :r[1] - r[0]]


def midiwrite(filename, piano_roll, r=(21, 109), dt=0.2):
    with open(filename, "wb") as f:
        numpy.save(f, numpy.asarray(piano_roll))
'''


def write_piano_rolls(folder: Path, n: int = 4, seed: int = 0) -> None:
    """Random sparse piano rolls (time x 88 notes) in the stand-in's *.mid format."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        roll = (rng.random((int(rng.integers(120, 200)), 88)) < 0.05).astype("float64")
        with open(folder / f"tune{i}.mid", "wb") as f:
            np.save(f, roll)


def renamed(text: str) -> str:
    """The script as a user would port it: every ``theano`` becomes ``symconv``."""
    return re.sub(r"\btheano\b", "symconv", text)


def copy_tutorials(code: Path, work: Path) -> None:
    for src in code.rglob("*"):
        if src.is_dir() or src.suffix not in (".py", ".pl"):
            continue
        dest = work / src.relative_to(code)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text(encoding="utf-8", errors="replace")
        dest.write_text(renamed(text) if src.suffix == ".py" else text, encoding="utf-8")


def write_mnist_pickle(path: Path, n_train: int = 800, n_valid: int = 600,
                       n_test: int = 600) -> None:
    """mnist.pkl.gz in the tutorials' format, made of the real digits shipped with symconv."""
    from symconv.datasets import load_mnist_sample
    data = load_mnist_sample()
    images, labels = data.images, data.labels
    x = (images.reshape(len(images), -1) / 255.0).astype("float32")
    y = labels.astype("int64")
    a, b = n_train, n_train + n_valid
    sets = ((x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:b + n_test], y[b:b + n_test]))
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)


def write_atis_fold(path: Path, seed: int = 0) -> None:
    """An atis.foldN.pkl.gz with random sentences: (lex, ne, y) per set and the dicts."""
    rng = np.random.default_rng(seed)
    words = {f"w{i}": i for i in range(60)}
    labels = {"O": 0, "B-city": 1, "I-city": 2, "B-date": 3, "I-date": 4}
    tables = {"O": 0}

    def sentences(n: int) -> tuple[list, list, list]:
        lex, ne, y = [], [], []
        for _ in range(n):
            length = int(rng.integers(3, 12))
            lex.append(rng.integers(0, len(words), length).astype("int32"))
            ne.append(np.zeros(length, "int32"))
            y.append(rng.choice([0, 0, 1, 2, 3, 4], length).astype("int32"))
        return lex, ne, y

    dicts = {"words2idx": words, "labels2idx": labels, "tables2idx": tables}
    with gzip.open(path, "wb") as f:
        pickle.dump((sentences(40), sentences(10), sentences(10), dicts), f, protocol=2)


def write_imdb_pickle(path: Path, seed: int = 0) -> None:
    """imdb.pkl: two pickles (train, test) of (list of word-id lists, list of 0/1 labels)."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[list, list]:
        xs = [list(rng.integers(2, 200, int(rng.integers(5, 30)))) for _ in range(n)]
        return [[int(w) for w in x] for x in xs], [int(v) for v in rng.integers(0, 2, n)]

    with open(path, "wb") as f:
        pickle.dump(split(200), f, protocol=2)
        pickle.dump(split(100), f, protocol=2)


def prepare(code: Path, work: Path) -> None:
    copy_tutorials(code, work)
    data = work.parent / "data"      # logistic_sgd.load_data and rnnslu look in ../data
    data.mkdir(exist_ok=True)
    write_mnist_pickle(data / "mnist.pkl.gz")
    write_atis_fold(data / "atis.fold3.pkl.gz")
    write_imdb_pickle(work / "imdb.pkl")
    (work / "midi").mkdir(exist_ok=True)
    (work / "midi" / "__init__.py").write_text("")
    (work / "midi" / "utils.py").write_text(MIDI_STANDIN)
    write_piano_rolls(data / "Nottingham" / "train")


def run_one(name: str, work: Path, timeout: float) -> dict:
    env = dict(os.environ)
    project = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([project, str(work), env.get("PYTHONPATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", TUTORIALS[name]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout)
        ok, tail = proc.returncode == 0, (proc.stdout + proc.stderr).strip().splitlines()
    except subprocess.TimeoutExpired as exc:
        ok, tail = False, [f"timed out after {timeout:.0f} s"] + \
            str(exc.stdout or "").splitlines()[-3:]
    return {"tutorial": name, "ran": ok, "seconds": round(time.perf_counter() - start, 2),
            "last_lines": [line[-200:] for line in tail[-3:]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", required=True, type=Path,
                        help="the code/ folder of a DeepLearningTutorials checkout")
    parser.add_argument("--only", default="", help="comma-separated tutorial names")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="write the record here")
    args = parser.parse_args(argv)
    if not (args.code / "logistic_sgd.py").is_file():
        parser.error(f"{args.code} does not look like DeepLearningTutorials/code "
                     f"(no logistic_sgd.py)")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: folder {args.json.parent} does not exist")
    names = [n for n in args.only.split(",") if n] or list(TUTORIALS)
    unknown = [n for n in names if n not in TUTORIALS]
    if unknown:
        parser.error(f"unknown tutorials {unknown}; known: {', '.join(TUTORIALS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "code"
        prepare(args.code, work)
        for name in names:
            row = run_one(name, work, args.timeout)
            rows.append(row)
            status = "ran" if row["ran"] else "FAILED"
            print(f"{name:18s} {status:6s} {row['seconds']:8.1f} s   "
                  f"{row['last_lines'][-1] if row['last_lines'] else ''}"[:160], flush=True)
        shutil.rmtree(work / "__pycache__", ignore_errors=True)
    for name, why in NEEDS_OTHER.items():
        print(f"{name:18s} skipped  {why}")
    if args.json is not None:
        import symconv
        record = {"date": time.strftime("%Y-%m-%d"),
                  "environment": {"cpu": platform.machine(), "threads": os.cpu_count(),
                                  "versions": {"python": platform.python_version(),
                                               "numpy": np.__version__,
                                               "symconv": symconv.__version__}},
                  "results": rows, "skipped": NEEDS_OTHER}
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0 if all(r["ran"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
