"""Denoising autoencoder on MNIST: DeepLearningTutorials' dA.py, run by symconv.

The changes from the tutorial's code are the imports (``import symconv as theano`` and
``from symconv.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams``). The input is
corrupted by a binomial mask drawn inside the compiled training function; the mask generator's
state advances with every call (its default update), and for the same seeds the masks are the
ones Theano 1.0.5 draws. As in the tutorial, the model is trained without and then with 30%
corruption.

Run ``python examples/dA.py --help`` for the options.
"""
from __future__ import annotations

import argparse

import numpy as np
from tutorial_common import Timer, add_common_arguments, load_digits, progress

import symconv as theano
import symconv.tensor as T
from symconv.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams


class dA:  # noqa: N801  (the tutorial's class name)
    """Tied-weights autoencoder: y = s(W x~ + b), z = s(W' y + b'), x~ a corrupted x."""

    def __init__(self, numpy_rng: np.random.RandomState, theano_rng: RandomStreams | None = None,
                 input=None, n_visible: int = 784, n_hidden: int = 500) -> None:
        self.n_visible, self.n_hidden = n_visible, n_hidden
        if theano_rng is None:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        bound = 4 * np.sqrt(6.0 / (n_hidden + n_visible))
        self.W = theano.shared(np.asarray(numpy_rng.uniform(-bound, bound, (n_visible, n_hidden)),
                                          dtype=theano.config.floatX), name="W", borrow=True)
        self.b = theano.shared(np.zeros(n_hidden, dtype=theano.config.floatX), name="b",
                               borrow=True)
        self.b_prime = theano.shared(np.zeros(n_visible, dtype=theano.config.floatX),
                                     name="b_prime", borrow=True)
        self.W_prime = self.W.T
        self.theano_rng = theano_rng
        self.x = T.dmatrix(name="input") if input is None else input
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level: float):
        """Zero each input with probability ``corruption_level`` (a fresh mask every call)."""
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def get_hidden_values(self, input):
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, corruption_level: float, learning_rate: float):
        """The mean cross-entropy reconstruction cost and the SGD updates."""
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        L = -T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        updates = [(param, param - learning_rate * gparam)
                   for param, gparam in zip(self.params, gparams)]
        return cost, updates


def test_dA(args: argparse.Namespace) -> dict:
    """Train a dA without and with corruption; returns the mean cost of every epoch of both."""
    images, _, source = load_digits(args.data, args.limit)
    args.batch_size = args.batch_size or args.default_batch_size  # the tutorial's 20
    train_set_x = theano.shared(np.asarray(images, dtype=theano.config.floatX), borrow=True)
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // args.batch_size
    index = T.lscalar()
    x = T.matrix("x")
    summary: dict = {"source": source}
    for corruption_level in (0.0, args.corruption):
        rng = np.random.RandomState(args.seed)
        theano_rng = RandomStreams(rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=28 * 28,
                n_hidden=args.n_hidden)
        cost, updates = da.get_cost_updates(corruption_level, args.learning_rate)
        train_da = theano.function(
            [index], cost, updates=updates,
            givens={x: train_set_x[index * args.batch_size:(index + 1) * args.batch_size]})
        timer, costs = Timer(), []
        for epoch in range(args.epochs):
            c = [float(train_da(i)) for i in progress(range(n_train_batches),
                                                      f"corruption {corruption_level:.0%}, "
                                                      f"epoch {epoch + 1}", disable=args.quiet)]
            costs.append(float(np.mean(c)))
            print(f"Training epoch {epoch}, cost {costs[-1]:f}")
        print(f"The {corruption_level:.0%} corruption code ran for {timer.seconds / 60.:.2f}m")
        summary[f"costs_{int(round(corruption_level * 100))}"] = costs
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, epochs=15, batch_size=20, learning_rate=0.1)
    parser.add_argument("--n-hidden", type=int, default=500, help="hidden units (default: 500)")
    parser.add_argument("--corruption", type=float, default=0.3,
                        help="corruption level of the second run (default: 0.3)")
    parser.set_defaults(seed=123)   # the tutorial's numpy_rng seed
    return test_dA(parser.parse_args(argv))


if __name__ == "__main__":
    main()
