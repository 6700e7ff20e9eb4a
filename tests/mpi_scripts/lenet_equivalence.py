"""Run by tests/test_distributed.py under ``mpiexec -n 2`` with floatX=float64: K SGD steps of
the tutorial LeNet (small) with a global minibatch of B split over the ranks, and on rank 0
the same K steps in one process with minibatch B and no communication."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from lenet import LeNetConvPoolLayer  # noqa: E402
from logistic_sgd import LogisticRegression  # noqa: E402
from mlp import HiddenLayer  # noqa: E402

import symconv  # noqa: E402
import symconv.tensor as T  # noqa: E402
from symconv import datasets, distributed  # noqa: E402

GLOBAL_BATCH, STEPS, NKERNS, HIDDEN, LR = 8, 3, (2, 3), 12, 0.1


def train(dp: distributed.DataParallel, images: np.ndarray, labels: np.ndarray) -> list:
    """STEPS steps of minibatch SGD: the final parameters, the costs, the initial parameters."""
    rng = np.random.RandomState(23455)
    b = dp.local_batch
    data_x, data_y = symconv.shared(images), symconv.shared(labels)
    index, x, y = T.lscalar(), T.matrix("x"), T.ivector("y")
    layer0 = LeNetConvPoolLayer(rng, x.reshape((b, 1, 28, 28)), image_shape=(b, 1, 28, 28),
                                filter_shape=(NKERNS[0], 1, 5, 5))
    layer1 = LeNetConvPoolLayer(rng, layer0.output, image_shape=(b, NKERNS[0], 12, 12),
                                filter_shape=(NKERNS[1], NKERNS[0], 5, 5))
    layer2 = HiddenLayer(rng, layer1.output.flatten(2), n_in=NKERNS[1] * 16, n_out=HIDDEN,
                         activation=T.tanh)
    layer3 = LogisticRegression(layer2.output, n_in=HIDDEN, n_out=10)
    params = layer0.params + layer1.params + layer2.params + layer3.params
    dp.broadcast(params)
    initial = [p.get_value() for p in params]
    cost = layer3.negative_log_likelihood(y)
    grads = dp.grad(cost, params)
    step = symconv.function([index], dp.mean(cost),
                            updates=[(p, p - LR * g) for p, g in zip(params, grads)],
                            givens={x: dp.minibatch(data_x, index),
                                    y: dp.minibatch(data_y, index)})
    costs = [float(step(i)) for i in range(STEPS)]
    return [p.get_value() for p in params] + [np.array(costs)] + initial


assert symconv.config.floatX == "float64"
sample = datasets.load_mnist_sample()
n = GLOBAL_BATCH * STEPS
images = sample.images[:n].reshape(n, -1).astype("float64") / 255
labels = np.asarray(sample.labels[:n], dtype="int32")
parallel = train(distributed.DataParallel(GLOBAL_BATCH), images, labels)
if distributed.is_root():
    alone = train(distributed.DataParallel(GLOBAL_BATCH, enabled=False), images, labels)
    np.savez(sys.argv[1], *[np.stack([a, b]) for a, b in zip(parallel, alone)])
