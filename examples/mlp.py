"""A multilayer perceptron (one tanh hidden layer) on MNIST: the Theano tutorial, run by symconv.

The only change from the tutorial's code is the import: ``import symconv as theano``.
The cost is the negative log-likelihood plus L1 and L2 penalties on the weights; minibatch SGD
through ``givens`` with an ``lscalar`` index; early stopping with patience.

Run ``python examples/mlp.py --help`` for the options.
"""
from __future__ import annotations

import argparse

import numpy as np
from logistic_sgd import LogisticRegression, load_data
from tutorial_common import (
    Timer,
    add_common_arguments,
    batch_counts,
    check_output,
    plot_curves,
    training_bar,
)

import symconv as theano
import symconv.tensor as T


class HiddenLayer:
    """A fully connected layer: activation(dot(input, W) + b), Glorot-uniform W."""

    def __init__(self, rng, input, n_in: int, n_out: int, W=None, b=None,
                 activation=T.tanh) -> None:
        self.input = input
        if W is None:
            W_values = np.asarray(
                rng.uniform(low=-np.sqrt(6. / (n_in + n_out)), high=np.sqrt(6. / (n_in + n_out)),
                            size=(n_in, n_out)),
                dtype=theano.config.floatX)
            if activation == T.nnet.sigmoid:
                W_values *= 4
            W = theano.shared(value=W_values, name="W", borrow=True)
        if b is None:
            b = theano.shared(value=np.zeros((n_out,), dtype=theano.config.floatX),
                              name="b", borrow=True)
        self.W = W
        self.b = b
        lin_output = T.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]


class MLP:
    """A tanh hidden layer followed by a logistic-regression layer."""

    def __init__(self, rng, input, n_in: int, n_hidden: int, n_out: int) -> None:
        self.hiddenLayer = HiddenLayer(rng=rng, input=input, n_in=n_in, n_out=n_hidden,
                                       activation=T.tanh)
        self.logRegressionLayer = LogisticRegression(input=self.hiddenLayer.output,
                                                     n_in=n_hidden, n_out=n_out)
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


def test_mlp(args: argparse.Namespace) -> dict:
    """Train the MLP with minibatch SGD and early stopping; returns the run's summary."""
    datasets, batch_size = load_data(args)
    (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets
    n_train_batches, n_valid_batches, n_test_batches = batch_counts(datasets, batch_size)

    print("... building the model")
    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    rng = np.random.RandomState(args.seed)
    classifier = MLP(rng=rng, input=x, n_in=28 * 28, n_hidden=args.n_hidden, n_out=10)
    cost = (classifier.negative_log_likelihood(y) + args.L1_reg * classifier.L1
            + args.L2_reg * classifier.L2_sqr)

    def batch(data, i):
        return data[i * batch_size:(i + 1) * batch_size]

    test_model = theano.function([index], classifier.errors(y),
                                 givens={x: batch(test_set_x, index), y: batch(test_set_y, index)})
    validate_model = theano.function(
        [index], classifier.errors(y),
        givens={x: batch(valid_set_x, index), y: batch(valid_set_y, index)})
    gparams = [T.grad(cost, param) for param in classifier.params]
    updates = [(param, param - args.learning_rate * gparam)
               for param, gparam in zip(classifier.params, gparams)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: batch(train_set_x, index), y: batch(train_set_y, index)})

    print("... training")
    patience = 10000
    patience_increase = 2
    improvement_threshold = 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = np.inf
    best_iter = 0
    best_epoch = 0
    test_score = 0.
    costs: list[float] = []
    valid_errors: list[float] = []
    timer = Timer()
    epoch = 0
    done_looping = False
    bar = training_bar(args.epochs, n_train_batches, args.quiet)
    while epoch < args.epochs and not done_looping:
        epoch += 1
        epoch_costs = []
        bar.set_description(f"epoch {epoch}/{args.epochs}")
        for minibatch_index in range(n_train_batches):
            epoch_costs.append(float(train_model(minibatch_index)))
            bar.update(1)
            iteration = (epoch - 1) * n_train_batches + minibatch_index
            if (iteration + 1) % validation_frequency == 0:
                this_validation_loss = np.mean([validate_model(i)
                                                for i in range(n_valid_batches)])
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iteration * patience_increase)
                    best_validation_loss = this_validation_loss
                    best_iter = iteration
                    best_epoch = epoch
                    test_score = np.mean([test_model(i) for i in range(n_test_batches)])
            if patience <= iteration:
                done_looping = True
                break
        costs.append(float(np.mean(epoch_costs)))
        valid_errors.append(float(this_validation_loss))
        bar.write(f"epoch {epoch}, minibatch {n_train_batches}/{n_train_batches}, cost "
                  f"{costs[-1]:.4f}, validation error {this_validation_loss * 100.:f} %"
                  + (f", test error of best model {test_score * 100.:f} %"
                     if best_epoch == epoch else ""))
    bar.close()
    seconds = timer.seconds
    summary = {"epochs": epoch, "best_epoch": best_epoch, "best_iteration": best_iter + 1,
               "best_validation_error": float(best_validation_loss),
               "test_error": float(test_score), "seconds": seconds,
               "examples_per_s": epoch * n_train_batches * batch_size / seconds,
               "costs": costs, "valid_errors": valid_errors}
    print(f"Optimization complete. Best validation score of {best_validation_loss * 100.:f} % "
          f"obtained at iteration {best_iter + 1}, with test performance {test_score * 100.:f} %")
    print(f"The code ran for {epoch} epochs, with {summary['examples_per_s']:.0f} "
          f"examples/sec ({seconds:.1f} s)")
    if args.plot:
        plot_curves(args.plot, costs, valid_errors, "Multilayer perceptron (symconv)",
                    best_epoch)
        print(f"curves written to {args.plot}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, epochs=100, batch_size=20, learning_rate=0.01)
    parser.add_argument("--n-hidden", type=int, default=500, help="hidden units (default: 500)")
    parser.add_argument("--L1-reg", type=float, default=0.0, help="L1 weight (default: 0)")
    parser.add_argument("--L2-reg", type=float, default=0.0001,
                        help="L2 weight (default: 0.0001)")
    args = parser.parse_args(argv)
    check_output("--plot", args.plot, needs_matplotlib=True)
    return test_mlp(args)


if __name__ == "__main__":
    main()
