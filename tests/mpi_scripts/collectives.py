"""Run by tests/test_distributed.py under ``mpiexec -n 2``: the all-reduce op's values and
gradient, bucketing with and without overlap, layout mismatches and broadcast_shared."""
import json
import sys

import numpy as np

import symconv
import symconv.tensor as T
from symconv import distributed

distributed.init()
rank, size = distributed.rank(), distributed.size()
results = {}

# values: rank r contributes (r + 1) * base; sum and mean over the ranks
base = np.arange(6.0).reshape(2, 3)
x = T.dmatrix("x")
f = symconv.function([x], [distributed.allreduce(x), distributed.allreduce(x, op="mean")])
total, mean = f((rank + 1) * base)
results["sum"] = total.tolist()
results["mean"] = mean.tolist()

# gradient: cost_r = sum(w_r * allreduce(x_r)) with w_r = rank + 1; d(sum_r cost_r)/dx_s =
# allreduce of the upstream gradients = sum_r w_r (every element)
w = T.dmatrix("w")
cost = T.sum(w * distributed.allreduce(x))
g = symconv.function([x, w], T.grad(cost, x))
results["grad"] = g(base, np.full_like(base, rank + 1.0)).tolist()

# a step whose gradients are bucketed: three parameters, a scalar and a reported mean cost
rng = np.random.default_rng(rank)
data = rng.normal(size=(4, 5))
params = [symconv.shared(np.full((5, 3), 0.1), name="W"), symconv.shared(np.zeros(3), name="b"),
          symconv.shared(np.float64(0.5), name="s")]
distributed.broadcast_shared(params)
inp = T.dmatrix("inp")
loss = T.mean(T.tanh(T.dot(inp, params[0]) + params[1]) ** 2) * params[2]
runs = {}
for label, bucket, overlap, poll in [("plain", 0, False, 0), ("bucketed", 1 << 20, False, 0),
                                     ("overlap", 1 << 20, True, 0), ("tiny_buckets", 8, True, 0),
                                     ("polled", 8, True, 1e-4)]:
    distributed.set_bucketing(bucket_bytes=bucket, overlap=overlap)
    distributed.set_progress(poll)   # a thread tests the requests in flight
    fn = symconv.function([inp], [distributed.allreduce(loss, op="mean")]
                          + distributed.grad(loss, params))
    ops = [node.op.name for node in fn.program.nodes]
    runs[label] = {"values": [np.asarray(v).tolist() for v in fn(data)],
                   "starts": ops.count("allreduce_start"), "plain": ops.count("allreduce")}
results["runs"] = runs
# what the ranks' gradients average to, computed alone on each rank then gathered
alone = symconv.function([inp], T.grad(loss, params))
results["local_grads"] = [np.asarray(v).tolist() for v in alone(data)]

# a mismatch: rank 1 reduces a longer vector; every rank gets the error and can go on
v = T.dvector("v")
h = symconv.function([v], distributed.allreduce(v))
try:
    h(np.ones(3 + rank))
    results["mismatch"] = None
except distributed.LayoutMismatch as err:
    results["mismatch"] = str(err)
mis = [symconv.shared(np.zeros((2, 2 + rank)), name="M")]
try:
    distributed.broadcast_shared(mis)
    results["broadcast_mismatch"] = None
except distributed.LayoutMismatch as err:
    results["broadcast_mismatch"] = str(err)

# broadcast_shared gives rank 0's values to everyone
p = symconv.shared(np.full(4, float(rank)), name="p")
distributed.broadcast_shared([p])
results["broadcast"] = p.get_value().tolist()

with open(f"{sys.argv[1]}.{rank}.json", "w") as out:
    json.dump(results, out)
