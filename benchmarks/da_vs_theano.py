"""The denoising autoencoder of DeepLearningTutorials' dA.py, one epoch on the MNIST sample
shipped in symconv, run by symconv or (in the Theano venv) by Theano 1.0.5 from the same seeds:
with MRG_RandomStreams drawing Theano's numbers, the training costs agree step by step.

    python benchmarks/da_vs_theano.py --json benchmarks/results/da_symconv.json
    THEANORC=/work/theano-venv/theanorc /work/theano-venv/bin/python \
        benchmarks/da_vs_theano.py --theano --json benchmarks/results/da_theano.json
    python benchmarks/da_vs_theano.py --compare benchmarks/results/da_symconv.json \
        benchmarks/results/da_theano.json --json benchmarks/results/da_vs_theano.json

Python 3.10 compatible (the Theano venv runs it too); the MNIST sample is read directly.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "symconv", "data")


def load_sample():
    """The 2,000 MNIST digits shipped in symconv/data as float32 rows in [0, 1]."""
    with gzip.open(os.path.join(DATA, "mnist-2k-images-idx3-ubyte.gz")) as fh:
        raw = fh.read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)
    return (images / 255.0).astype("float32")


def train(theano, T, RandomStreams, epochs, batch_size, learning_rate, corruption, n_hidden):
    """dA.py's test_dA, written against whichever library is passed in."""
    x_data = theano.shared(load_sample(), borrow=True)
    n_batches = x_data.get_value(borrow=True).shape[0] // batch_size
    numpy_rng = np.random.RandomState(123)
    theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
    bound = 4 * np.sqrt(6.0 / (n_hidden + 784))
    W = theano.shared(np.asarray(numpy_rng.uniform(-bound, bound, (784, n_hidden)),
                                 dtype="float32"), name="W")
    b_prime = theano.shared(np.zeros(784, dtype="float32"), name="bvis")
    b = theano.shared(np.zeros(n_hidden, dtype="float32"), name="bhid")
    index = T.lscalar()
    x = T.matrix("x")
    tilde_x = theano_rng.binomial(size=x.shape, n=1, p=1 - corruption, dtype="float32") * x
    y = T.nnet.sigmoid(T.dot(tilde_x, W) + b)
    z = T.nnet.sigmoid(T.dot(y, W.T) + b_prime)
    cost = T.mean(-T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1))
    params = [W, b, b_prime]
    grads = T.grad(cost, params)
    updates = [(p, p - learning_rate * g) for p, g in zip(params, grads)]
    step = theano.function([index], cost, updates=updates,
                           givens={x: x_data[index * batch_size:(index + 1) * batch_size]})
    costs, start = [], time.perf_counter()
    for _ in range(epochs):
        costs.append([float(step(i)) for i in range(n_batches)])
    return {"costs": costs, "epoch_mean_costs": [float(np.mean(c)) for c in costs],
            "seconds": round(time.perf_counter() - start, 2),
            "W_checksum": float(np.abs(W.get_value()).sum())}


def compare(a_path, b_path):
    with open(a_path) as fh:
        a = json.load(fh)
    with open(b_path) as fh:
        b = json.load(fh)
    ca, cb = np.array(a["costs"]), np.array(b["costs"])
    rel = np.abs(ca - cb) / np.abs(cb)
    rows = [{"library": r["library"],
             **{f"epoch {e + 1} mean cost": c for e, c in enumerate(r["epoch_mean_costs"])},
             "W abs sum after training": r["W_checksum"], "seconds": r["seconds"]}
            for r in (a, b)]
    return {"benchmark": "dA.py one epoch, symconv vs Theano",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "method": f"{a['dataset']}; corruption {a['corruption_level']}, batch "
                      f"{a['batch_size']}, learning rate {a['learning_rate']}, "
                      f"{a['n_hidden']} hidden units; numpy RandomState(123) weights, "
                      f"MRG_RandomStreams(RandomState(123).randint(2**30)) corruption",
            "note": f"{ca.size} training steps; largest relative difference of a step's "
                    f"cost: {rel.max():.2e} (same corruption masks: only float32 summation "
                    f"order differs). Seconds are wall time on 2 cores shared with other agents "
                    f"(load average 8-17): not a speed comparison.",
            "results": rows,
            "costs": {a["library"]: a["costs"], b["library"]: b["costs"]}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theano", action="store_true", help="run with Theano 1.0.5")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--compare", nargs=2, metavar="JSON")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.compare:
        result = compare(*args.compare)
    else:
        if args.theano:
            import theano
            import theano.tensor as T
            from theano.sandbox.rng_mrg import MRG_RandomStreams
            assert theano.config.floatX == "float32"
            library = "theano " + theano.__version__
        else:
            import symconv as theano
            import symconv.tensor as T
            from symconv.sandbox.rng_mrg import MRG_RandomStreams
            theano.config.floatX = "float32"
            library = "symconv " + theano.__version__
        result = {"library": library, "dataset": "symconv/data MNIST sample (2000 digits)",
                  "corruption_level": 0.3, "batch_size": 20, "learning_rate": 0.1,
                  "n_hidden": 500,
                  **train(theano, T, MRG_RandomStreams, args.epochs, 20, 0.1, 0.3, 500)}
    print(json.dumps({k: v for k, v in result.items() if k != "costs"}, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
