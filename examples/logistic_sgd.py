"""Logistic regression on MNIST with minibatch SGD: the Theano tutorial, run by symconv.

The only change from the tutorial's code is the import: ``import symconv as theano``.
Minibatches are slices of shared datasets taken through ``givens`` with an ``lscalar`` index;
training stops early when the validation error stops improving (patience); the best model is
optionally pickled and reloaded to predict, as in the tutorial's ``predict()``.

Run ``python examples/logistic_sgd.py --help`` for the options.
"""
from __future__ import annotations

import argparse
import pickle

import numpy as np
from tutorial_common import (
    Timer,
    add_common_arguments,
    batch_counts,
    check_output,
    choose_batch_size,
    load_splits,
    plot_curves,
    shared_dataset,
    training_bar,
    write_atomically,
)

import symconv as theano
import symconv.tensor as T


class LogisticRegression:
    """Multi-class logistic regression: P(Y=i|x) = softmax_i(W x + b)."""

    def __init__(self, input, n_in: int, n_out: int) -> None:
        self.W = theano.shared(np.zeros((n_in, n_out), dtype=theano.config.floatX),
                               name="W", borrow=True)
        self.b = theano.shared(np.zeros((n_out,), dtype=theano.config.floatX),
                               name="b", borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """Mean log-probability of the correct labels (mean, so the learning rate does not
        depend on the minibatch size)."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """Fraction of the minibatch that is misclassified."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred",
                            ("y", y.type, "y_pred", self.y_pred.type))
        if not y.dtype.startswith("int"):
            raise NotImplementedError()
        return T.mean(T.neq(self.y_pred, y))


def load_data(args: argparse.Namespace) -> tuple[list, int]:
    """The three shared (x, y) datasets and the minibatch size; says which data and split."""
    data = load_splits(args.data, args.limit, args.dataset)
    print(data.description)
    batch_size = choose_batch_size(args, data.parts)
    return [shared_dataset(part) for part in data.parts], batch_size


def sgd_optimization_mnist(args: argparse.Namespace) -> dict:
    """Train with minibatch SGD and early stopping; returns the run's summary."""
    datasets, batch_size = load_data(args)
    (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets
    n_train_batches, n_valid_batches, n_test_batches = batch_counts(datasets, batch_size)

    print("... building the model")
    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    classifier = LogisticRegression(input=x, n_in=28 * 28, n_out=10)
    cost = classifier.negative_log_likelihood(y)

    def batch(data, i):
        return data[i * batch_size: (i + 1) * batch_size]

    test_model = theano.function([index], classifier.errors(y),
                                 givens={x: batch(test_set_x, index), y: batch(test_set_y, index)})
    validate_model = theano.function(
        [index], classifier.errors(y),
        givens={x: batch(valid_set_x, index), y: batch(valid_set_y, index)})
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    updates = [(classifier.W, classifier.W - args.learning_rate * g_W),
               (classifier.b, classifier.b - args.learning_rate * g_b)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: batch(train_set_x, index), y: batch(train_set_y, index)})

    print("... training the model")
    patience = 5000                # look at this many minibatches regardless
    patience_increase = 2          # wait this much longer when a new best is found
    improvement_threshold = 0.995  # a relative improvement of this much is significant
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = np.inf
    test_score = 0.0
    best_epoch = 0
    costs: list[float] = []
    valid_errors: list[float] = []
    timer = Timer()
    done_looping = False
    epoch = 0
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
                    best_epoch = epoch
                    test_score = np.mean([test_model(i) for i in range(n_test_batches)])
                    if args.save:
                        write_atomically(args.save, lambda f: pickle.dump(classifier, f))
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
    summary = {"epochs": epoch, "best_epoch": best_epoch,
               "best_validation_error": float(best_validation_loss),
               "test_error": float(test_score), "seconds": seconds,
               "examples_per_s": epoch * n_train_batches * batch_size / seconds,
               "costs": costs, "valid_errors": valid_errors}
    print(f"Optimization complete with best validation score of "
          f"{best_validation_loss * 100.:f} %, with test performance {test_score * 100.:f} %")
    print(f"The code ran for {epoch} epochs, with {summary['examples_per_s']:.0f} "
          f"examples/sec ({seconds:.1f} s)")
    if args.plot:
        plot_curves(args.plot, costs, valid_errors, "Logistic regression (symconv)", best_epoch)
        print(f"curves written to {args.plot}")
    return summary


def predict(model_file: str, data_dir: str | None, limit: int | None = None,
            count: int = 10, kind: str = "mnist") -> np.ndarray:
    """Load a pickled classifier and predict the first ``count`` test digits."""
    with open(model_file, "rb") as f:
        classifier = pickle.load(f)
    predict_model = theano.function(inputs=[classifier.input], outputs=classifier.y_pred)
    test_x, test_y = load_splits(data_dir, limit, kind).parts[2]
    predicted = predict_model(test_x[:count])
    print(f"Predicted values for the first {count} test digits: {predicted}")
    print(f"                                          labels: {test_y[:count]}")
    return predicted


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, epochs=200, batch_size=600, learning_rate=0.13)
    parser.add_argument("--save", metavar="PKL",
                        help="pickle the best model here and reload it to predict")
    args = parser.parse_args(argv)
    check_output("--plot", args.plot, needs_matplotlib=True)
    check_output("--save", args.save)
    summary = sgd_optimization_mnist(args)
    if args.save:
        predict(args.save, args.data, args.limit, kind=args.dataset)
    return summary


if __name__ == "__main__":
    main()
