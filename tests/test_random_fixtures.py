"""symconv's random streams against draws recorded from Theano 1.0.5 (tests/fixtures/).

Float64 and integer draws must be equal bit for bit; float32 and float16 draws too, except
where MAX_ULP32 allows a case a few units in the last place (one float32 normal draw of the
truncated case differs by 1 ulp from Theano's, after its fused multiply-add).
"""
import hashlib
import os
import sys
import types

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.sandbox.rng_mrg import MRG_RandomStreams
from symconv.tensor.shared_randomstreams import RandomStreams

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
sys.path.insert(0, HERE)
from random_cases import CASES  # noqa: E402

FIXTURE = os.path.join(HERE, "random_theano.npz")
LIB = types.SimpleNamespace(function=symconv.function, T=T, MRG=MRG_RandomStreams,
                            RS=RandomStreams)
# the most ulps a float32 draw may differ by, per case (0: bit for bit)
MAX_ULP32 = {"mrg_normal": 1}


def ulps(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between two float arrays of one dtype."""
    if a.size == 0:
        return 0
    bits = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a.view(bits).astype(np.int64), b.view(bits).astype(np.int64)
    # map the sign-magnitude bit patterns onto a monotonic integer line
    top = np.int64(1) << (8 * a.dtype.itemsize - 1)
    ia = np.where(ia < 0, -(ia + top), ia)
    ib = np.where(ib < 0, -(ib + top), ib)
    return int(np.abs(ia - ib).max())


@pytest.fixture(scope="module")
def reference():
    if not os.path.exists(FIXTURE):
        pytest.skip("tests/fixtures/random_theano.npz is missing (record_random_theano.py)")
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def compare(name: str, got: np.ndarray, ref: dict, stats: dict) -> None:
    """Check one draw against Theano's; count equal/differing draws and max ulps per dtype."""
    got = np.ascontiguousarray(got)
    row = stats.setdefault(str(got.dtype), [0, 0, 0])
    if name + "#sha256" in ref:
        digest = hashlib.sha256(got.tobytes()).hexdigest()
        head = ref[name + "#head"]
        assert str(ref[name + "#sha256"]) == f"{got.dtype}{got.shape}{digest}", (
            name, ulps(got.reshape(-1)[:head.size], head))
        row[0] += got.size
        return
    want = ref[name]
    assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape,
                                                                want.dtype, want.shape)
    same = int((got == want).sum()) if got.dtype.kind == "f" else got.size
    if np.array_equal(got, want):
        row[0] += got.size
        return
    assert got.dtype.kind == "f" and got.dtype != np.float64, f"{name}: not bit for bit"
    diff = ulps(got, want)
    row[0] += same
    row[1] += got.size - same
    row[2] = max(row[2], diff)
    assert diff <= MAX_ULP32.get(name.split("/")[0], 0), f"{name}: {diff} ulps"


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_same_numbers_as_theano(case, reference):
    stats: dict = {}
    with symconv.config.change_flags(floatX="float32"):
        results = case(LIB)
    prefix = case.__name__ + "/"
    expected = {k.split("#")[0] for k in reference if k.startswith(prefix)}
    assert {prefix + k for k in results} == expected
    for key, value in results.items():
        compare(prefix + key, np.asarray(value), reference, stats)
    print(case.__name__, ", ".join(f"{dtype}: {a} equal, {b} differ (max {u} ulp)"
                                   for dtype, (a, b, u) in sorted(stats.items())))
