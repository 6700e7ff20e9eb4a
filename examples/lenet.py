"""LeNet-5 style convolutional network on MNIST: Theano's convolutional_mlp tutorial on symconv.

Two convolution + max-pooling layers (tanh), a tanh hidden layer and logistic regression,
trained by minibatch SGD through ``givens`` with early stopping. The only change from the
tutorial's code is the import: ``import symconv as theano``.

Run ``python examples/lenet.py --help`` for the options.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from logistic_sgd import LogisticRegression, load_data
from mlp import HiddenLayer
from tutorial_common import (
    Timer,
    add_common_arguments,
    batch_counts,
    check_output,
    image_grid,
    plot_curves,
    training_bar,
    write_atomically,
)

import symconv as theano
import symconv.tensor as T
from symconv import distributed
from symconv.tensor.signal import pool


class LeNetConvPoolLayer:
    """Convolution then max-pooling then tanh(. + b), as in the tutorial."""

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)) -> None:
        assert image_shape[1] == filter_shape[1]
        self.input = input
        fan_in = np.prod(filter_shape[1:])
        fan_out = filter_shape[0] * np.prod(filter_shape[2:]) // np.prod(poolsize)
        W_bound = np.sqrt(6. / (fan_in + fan_out))
        self.W = theano.shared(
            np.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape),
                       dtype=theano.config.floatX), borrow=True)
        b_values = np.zeros((filter_shape[0],), dtype=theano.config.floatX)
        self.b = theano.shared(value=b_values, borrow=True)
        conv_out = T.nnet.conv2d(input=input, filters=self.W, filter_shape=filter_shape,
                                 input_shape=image_shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.params = [self.W, self.b]


PARAM_NAMES = ("conv0_W", "conv0_b", "conv1_W", "conv1_b", "hidden_W", "hidden_b",
               "out_W", "out_b")


def save_params(path: str, params: list) -> None:
    """Write the parameters to an .npz file atomically (a crash never leaves half a file)."""
    write_atomically(path, lambda f: np.savez(
        f, **{name: p.get_value() for name, p in zip(PARAM_NAMES, params)}))


def load_params(path: str, params: list) -> None:
    """Set the parameters from an .npz file written by :func:`save_params`, after checking
    that its names, shapes and dtypes match this network."""
    with np.load(path) as data:
        names = sorted(data.files)
        if names != sorted(PARAM_NAMES):
            raise SystemExit(f"{path}: expected arrays {sorted(PARAM_NAMES)}, found {names}")
        for name, p in zip(PARAM_NAMES, params):
            value, current = data[name], p.get_value(borrow=True)
            if value.shape != current.shape or value.dtype != current.dtype:
                raise SystemExit(f"{path}: {name} is {value.dtype}{list(value.shape)}, this "
                                 f"network needs {current.dtype}{list(current.shape)} (same "
                                 "--nkerns and floatX as when it was saved?)")
        for name, p in zip(PARAM_NAMES, params):
            p.set_value(data[name])


def show_filters(path: str, filters: np.ndarray) -> None:
    """The first-layer filters as a labelled grid on one colour scale, centred on zero (red
    positive, blue negative weights), with a colour bar."""
    image_grid(path, filters[:, 0], [f"filter {k}" for k in range(len(filters))],
               f"LeNet first-layer filters ({len(filters)} of "
               f"{filters.shape[2]}x{filters.shape[3]}, symconv)",
               "weight", cmap="RdBu_r", symmetric=True)


def evaluate_lenet5(args: argparse.Namespace) -> dict:
    """Train (or load) the LeNet and report validation/test error; returns a summary."""
    rng = np.random.RandomState(args.seed)
    datasets, batch_size = load_data(args)
    (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets
    # batch_size: the global minibatch (each of the job's ranks computes a shard of it)
    dp = distributed.DataParallel(batch_size, enabled=args.distributed)  # 1 rank: no-op
    if not dp.is_root:   # rank 0 prints, plots and saves
        args.quiet, args.plot, args.show_filters = True, None, None
        sys.stdout = open(os.devnull, "w")
    global_batch, batch_size, nkerns = batch_size, dp.local_batch, args.nkerns
    n_train_batches, n_valid_batches, n_test_batches = batch_counts(datasets, global_batch)

    index = T.lscalar()
    x = T.matrix("x")
    y = T.ivector("y")
    print("... building the model")
    layer0_input = x.reshape((batch_size, 1, 28, 28))
    layer0 = LeNetConvPoolLayer(rng, input=layer0_input, image_shape=(batch_size, 1, 28, 28),
                                filter_shape=(nkerns[0], 1, 5, 5), poolsize=(2, 2))
    layer1 = LeNetConvPoolLayer(rng, input=layer0.output,
                                image_shape=(batch_size, nkerns[0], 12, 12),
                                filter_shape=(nkerns[1], nkerns[0], 5, 5), poolsize=(2, 2))
    layer2 = HiddenLayer(rng, input=layer1.output.flatten(2), n_in=nkerns[1] * 4 * 4,
                         n_out=500, activation=T.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=500, n_out=10)
    cost = layer3.negative_log_likelihood(y)
    params = layer0.params + layer1.params + layer2.params + layer3.params
    if args.load:
        if args.distributed:   # no rank reads the checkpoint while rank 0 may still write it
            distributed.barrier()
        load_params(args.load, params)
        print(f"loaded parameters from {args.load}")
    dp.broadcast(params)

    batch = dp.minibatch   # data[i * batch_size:(i + 1) * batch_size], this rank's shard of it

    test_model = theano.function([index], dp.mean(layer3.errors(y)),
                                 givens={x: batch(test_set_x, index), y: batch(test_set_y, index)})
    validate_model = theano.function(
        [index], dp.mean(layer3.errors(y)),
        givens={x: batch(valid_set_x, index), y: batch(valid_set_y, index)})
    grads = dp.grad(cost, params)
    updates = [(p, p - args.learning_rate * g) for p, g in zip(params, grads)]
    train_model = theano.function([index], dp.mean(cost), updates=updates,
                                  givens={x: batch(train_set_x, index),
                                          y: batch(train_set_y, index)})

    if args.epochs == 0:  # evaluate a loaded model only
        valid = float(np.mean([validate_model(i) for i in range(n_valid_batches)]))
        test = float(np.mean([test_model(i) for i in range(n_test_batches)]))
        print(f"validation error {valid * 100.:f} %, test error {test * 100.:f} %")
        return {"epochs": 0, "best_validation_error": valid, "test_error": test}
    print("... training")
    patience, patience_increase, improvement_threshold = 10000, 2, 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss, best_epoch, test_score = np.inf, 0, 0.
    costs: list[float] = []
    valid_errors: list[float] = []
    timer = Timer()
    epoch, done_looping = 0, False
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
                    best_validation_loss, best_epoch = this_validation_loss, epoch
                    test_score = np.mean([test_model(i) for i in range(n_test_batches)])
                    if args.save and dp.is_root:
                        save_params(args.save, params)
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
               "examples_per_s": epoch * n_train_batches * global_batch / max(seconds, 1e-9),
               "costs": costs, "valid_errors": valid_errors}
    print(f"Optimization complete. Best validation score of {best_validation_loss * 100.:f} % "
          f"at epoch {best_epoch}, with test performance {test_score * 100.:f} %")
    print(f"The code ran for {epoch} epochs, with {summary['examples_per_s']:.0f} "
          f"examples/sec ({seconds:.1f} s)")
    if args.save:
        print(f"best parameters saved to {args.save}")
    if args.plot:
        plot_curves(args.plot, costs, valid_errors, "LeNet (symconv)", best_epoch)
        print(f"curves written to {args.plot}")
    if args.show_filters:
        show_filters(args.show_filters, layer0.W.get_value())
        print(f"first-layer filters written to {args.show_filters}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, epochs=20, batch_size=500, learning_rate=0.1)
    parser.set_defaults(seed=23455)  # the tutorial's seed
    parser.add_argument("--nkerns", type=int, nargs=2, default=[20, 50], metavar="N",
                        help="filters in the two convolutional layers (default: 20 50)")
    parser.add_argument("--save", metavar="NPZ",
                        help="write the best parameters here (atomically)")
    parser.add_argument("--load", metavar="NPZ",
                        help="start from parameters saved by --save (names, shapes and dtypes "
                             "are checked)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of an MPI job (mpiexec -n 2 python "
                             "lenet.py --distributed); --batch-size is the global minibatch")
    parser.add_argument("--show-filters", metavar="PNG",
                        help="write the first-layer filters as a labelled image grid (needs "
                             "matplotlib)")
    args = parser.parse_args(argv)
    check_output("--plot", args.plot, needs_matplotlib=True)
    check_output("--show-filters", args.show_filters, needs_matplotlib=True)
    check_output("--save", args.save)
    return evaluate_lenet5(args)


if __name__ == "__main__":
    main()
