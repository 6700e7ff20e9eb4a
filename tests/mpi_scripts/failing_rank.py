"""Run by tests/test_distributed.py under ``mpiexec -n 2``: on its third step, rank 1 feeds a
matrix of the wrong shape, so its dot fails mid-step while rank 0 waits in the all-reduce.
The job must end (not hang) with rank 1's error on stderr."""
import numpy as np

import symconv
import symconv.tensor as T
from symconv import distributed

distributed.init()
a, b = T.dmatrix("a"), T.dmatrix("b")
step = symconv.function([a, b], distributed.allreduce(T.sum(T.dot(a, b))))
for i in range(5):
    wrong = distributed.rank() == 1 and i == 2
    print("step", i, step(np.ones((2, 3)), np.ones((4 if wrong else 3, 2))), flush=True)
