"""Backends: how compiled graphs run on a device. A backend is a kernel table plus overrides."""
from __future__ import annotations

from typing import Any

from symconv.backends.base import Backend

_BACKENDS: dict[str, Backend] = {}


def get_backend(device: str | None = None) -> Backend:
    """The backend for ``device`` ('cpu', 'cuda', 'cudaN'; default: config.device)."""
    from symconv.config import config
    device = device or config.device
    if device not in _BACKENDS:
        if device == "cpu":
            from symconv.backends.numpy import NumpyBackend
            _BACKENDS[device] = NumpyBackend()
        else:
            from symconv.backends.cupy import CupyBackend
            _BACKENDS[device] = CupyBackend(device)
    return _BACKENDS[device]


def backend_for(dtype: str | None) -> Backend:
    """Where a shared value of ``dtype`` lives: float values on the configured device (as
    Theano's GPU backend), everything else on the host."""
    from symconv.config import config
    if config.device != "cpu" and (dtype is None or dtype.startswith("float")):
        return get_backend(config.device)
    return get_backend("cpu")


__all__ = ["Backend", "get_backend", "backend_for"]


def __getattr__(name: str) -> Any:
    raise AttributeError(name)
