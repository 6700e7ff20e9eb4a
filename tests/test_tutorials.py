"""The Theano tutorials' API surface end to end: shared datasets, givens, an lscalar index,
classifier objects, L1/L2 terms, pickling a model mid-training (on synthetic data, fast)."""
import pickle

import numpy as np
import pytest

import symconv as theano
import symconv.tensor as T


class Softmax:
    def __init__(self, input, n_in, n_out):
        self.W = theano.shared(np.zeros((n_in, n_out), dtype=theano.config.floatX), name="W",
                               borrow=True)
        self.b = theano.shared(np.zeros((n_out,), dtype=theano.config.floatX), name="b",
                               borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        assert y.dtype.startswith("int")
        return T.mean(T.neq(self.y_pred, y))


class Hidden:
    def __init__(self, rng, input, n_in, n_out):
        bound = np.sqrt(6.0 / (n_in + n_out))
        W = np.asarray(rng.uniform(-bound, bound, (n_in, n_out)), dtype=theano.config.floatX)
        self.W = theano.shared(value=W, name="W", borrow=True)
        self.b = theano.shared(value=np.zeros((n_out,), dtype=theano.config.floatX), name="b",
                               borrow=True)
        self.output = T.tanh(T.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


def _shared_dataset(x, y):
    shared_x = theano.shared(np.asarray(x, dtype=theano.config.floatX), borrow=True)
    shared_y = theano.shared(np.asarray(y, dtype=theano.config.floatX), borrow=True)
    return shared_x, T.cast(shared_y, "int32")


def _blobs(n=600, d=20, k=4, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.randint(0, k, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_logistic_regression_tutorial_flow(floatx, tmp_path):
    with theano.config.change_flags(floatX=floatx):
        xs, ys = _blobs()
        train_x, train_y = _shared_dataset(xs[:400], ys[:400])
        test_x, test_y = _shared_dataset(xs[400:], ys[400:])
        batch_size = 50
        index = T.lscalar()
        x, y = T.matrix("x"), T.ivector("y")
        clf = Softmax(input=x, n_in=20, n_out=4)
        cost = clf.negative_log_likelihood(y)
        g_W = T.grad(cost=cost, wrt=clf.W)
        g_b = T.grad(cost=cost, wrt=clf.b)
        updates = [(clf.W, clf.W - 0.13 * g_W), (clf.b, clf.b - 0.13 * g_b)]
        train = theano.function(
            inputs=[index], outputs=cost, updates=updates,
            givens={x: train_x[index * batch_size:(index + 1) * batch_size],
                    y: train_y[index * batch_size:(index + 1) * batch_size]})
        test = theano.function(
            [index], clf.errors(y),
            givens={x: test_x[index * batch_size:(index + 1) * batch_size],
                    y: test_y[index * batch_size:(index + 1) * batch_size]})
        first = float(train(0))
        for epoch in range(5):
            costs = [float(train(i)) for i in range(8)]
        assert costs[-1] < first and clf.W.get_value().dtype == floatx
        error = np.mean([test(i) for i in range(4)])
        assert error < 0.05
        # the tutorial pickles the classifier mid-training and reloads it to predict
        with open(tmp_path / "best_model.pkl", "wb") as fh:
            pickle.dump(clf, fh)
        with open(tmp_path / "best_model.pkl", "rb") as fh:
            loaded = pickle.load(fh)
        predict = theano.function(inputs=[loaded.input], outputs=loaded.y_pred)
        xv = np.asarray(xs[400:], dtype=floatx)
        np.testing.assert_array_equal(predict(xv),
                                      np.argmax(xv @ clf.W.get_value() + clf.b.get_value(), 1))


def test_mlp_tutorial_flow_with_l1_l2():
    rng = np.random.RandomState(1234)
    xs, ys = _blobs(seed=3)
    train_x, train_y = _shared_dataset(xs, ys)
    index, x, y = T.lscalar(), T.matrix("x"), T.ivector("y")
    hidden = Hidden(rng, x, 20, 30)
    out = Softmax(hidden.output, 30, 4)
    params = hidden.params + out.params
    L1 = abs(hidden.W).sum() + abs(out.W).sum()
    L2_sqr = (hidden.W ** 2).sum() + (out.W ** 2).sum()
    cost = out.negative_log_likelihood(y) + 0.0001 * L1 + 0.0001 * L2_sqr
    gparams = [T.grad(cost, param) for param in params]
    updates = [(param, param - 0.1 * gparam) for param, gparam in zip(params, gparams)]
    bs = 20
    train = theano.function([index], cost, updates=updates,
                            givens={x: train_x[index * bs:(index + 1) * bs],
                                    y: train_y[index * bs:(index + 1) * bs]})
    errors = theano.function([], out.errors(y), givens={x: train_x, y: train_y})
    before = float(errors())
    for epoch in range(3):
        for i in range(30):
            train(i)
    assert float(errors()) < min(before, 0.05)
