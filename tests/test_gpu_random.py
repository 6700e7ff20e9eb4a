"""MRG_RandomStreams on the GPU draws the CPU's (Theano's) numbers, bit for bit.

Skipped (with the reason) where CuPy or a CUDA GPU is missing.
"""
from __future__ import annotations

import numpy as np
import pytest

import symconv
from symconv.sandbox.rng_mrg import MRG_RandomStreams

pytestmark = pytest.mark.gpu

try:
    from symconv.backends import get_backend
    from symconv.backends.cupy import DeviceUnavailableError
    get_backend("cuda")
except DeviceUnavailableError as err:
    pytest.skip(str(err), allow_module_level=True)


def _draws(device: str) -> tuple[list, list]:
    with symconv.change_flags(device=device, floatX="float32"):
        r = MRG_RandomStreams(2024)
        outs = [r.uniform((7,), dtype="float64"), r.uniform((300, 41), dtype="float32"),
                r.uniform((5,), low=-2.0, high=3.0, dtype="float32"),
                r.normal((33,), dtype="float32"), r.normal((8, 8), dtype="float64"),
                r.binomial((100,), p=0.3, dtype="float32"), r.uniform((6,), dtype="float16"),
                r.uniform((100000,), nstreams=3, dtype="float32")]
        f = symconv.function([], outs)
        calls = [[np.asarray(v) for v in f()] for _ in range(3)]
        return calls, [state.get_value() for state, *_ in r.state_updates]


def test_gpu_mrg_draws_equal_cpu_draws():
    cpu_calls, cpu_states = _draws("cpu")
    gpu_calls, gpu_states = _draws("cuda")
    for cpu, gpu in zip(cpu_calls, gpu_calls):
        for a, b in zip(cpu, gpu):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    for a, b in zip(cpu_states, gpu_states):
        np.testing.assert_array_equal(a, b)
