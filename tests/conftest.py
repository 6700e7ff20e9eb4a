"""Shared fixtures: a seeded RNG and flag isolation."""
import numpy as np
import pytest

import symconv


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _default_flags():
    # every test starts from the defaults and cannot leak flag changes into the next
    with symconv.config.change_flags(floatX="float64", mode="FAST_RUN"):
        yield
