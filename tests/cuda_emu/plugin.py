"""pytest plugin: device=cuda served by the emulated backend, to rehearse a GPU run on the CPU.

    PYTHONPATH=$PWD:$PWD/tests python -m pytest -p cuda_emu.plugin tests/test_gpu_backend.py

Slow (kernels are compiled one at a time as the tests ask for them, then cached); CuPy-only
features (streams, CUDA graphs) fail.
"""
from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    from symconv import backends

    from . import emulated_backend
    backends._BACKENDS["cuda"] = emulated_backend()
