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


# ---- op coverage: which registered ops did some compiled function of this session run? ------
# Kept on the pytest config (this file may be imported twice, as conftest and tests.conftest).


def _recording_bind(bind, seen: set):
    def recording(self, nodes):
        for node in nodes:
            seen.add(node.op.name)
            if node.op.name == "fused_elemwise":
                seen.update(step.op for step in node.kw["program"].steps)
        return bind(self, nodes)
    return recording


def pytest_configure(config):
    from symconv.backends.base import Backend
    config.symconv_compiled_ops = set()
    config.symconv_full_run = False
    Backend.bind = _recording_bind(Backend.bind, config.symconv_compiled_ops)


def pytest_collection_modifyitems(session, config, items):
    # the op-coverage meta-test runs after every other test
    last = [i for i in items if i.name == "test_every_registered_op_is_compiled_by_a_test"]
    items[:] = [i for i in items if i not in last] + last


def pytest_collectreport(report):
    # every test module collected, including those skipped at module level (no GPU, no NVRTC)
    if report.nodeid.endswith(".py"):
        _MODULES_SEEN.add(report.nodeid.rsplit("/", 1)[-1])


_MODULES_SEEN: set = set()


def pytest_collection_finish(session):
    import pathlib
    options = session.config.option
    filtered = bool(options.keyword or options.markexpr or options.deselect)
    modules = {p.name for p in pathlib.Path(__file__).parent.glob("test_*.py")}
    session.config.symconv_full_run = not filtered and modules <= _MODULES_SEEN


def pytest_sessionfinish(session, exitstatus):
    # functions compiled with profile=True print at exit; not after pytest's summary line
    from symconv import profiling
    profiling.AT_EXIT.clear()
