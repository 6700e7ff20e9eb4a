"""Run by tests/test_distributed.py under ``mpiexec -n 2`` with device=cuda, one GPU per
rank: all-reduces of CuPy arrays go through NCCL, plain and bucketed; rank r contributes
(r + 1) * base, and each rank writes what it got."""
import json
import sys

import numpy as np

import symconv
from symconv import distributed

distributed.init()
rank = distributed.rank()
base = np.arange(6.0).reshape(2, 3)
w = symconv.shared((rank + 1) * base, name="w")
v = symconv.shared(np.full(3, rank + 1.0), name="v")
results = {}
for label, bucket, overlap in [("plain", 0, False), ("overlap", 1 << 20, True)]:
    distributed.set_bucketing(bucket_bytes=bucket, overlap=overlap)
    f = symconv.function([], [distributed.allreduce(w), distributed.allreduce(v, op="mean")])
    results[label] = [np.asarray(a).tolist() for a in f()]
with open(f"{sys.argv[1]}.{rank}.json", "w") as out:
    json.dump(results, out)
