"""The thread count of the OpenBLAS that NumPy loaded, read and set through ctypes.

The conv kernels split the batch over their own worker threads and want each worker's BLAS call
single-threaded: two levels of threads on two cores oversubscribe them, and OpenBLAS's
spin-waiting workers then slow every call down by an order of magnitude on a busy machine.
"""
from __future__ import annotations

import contextlib
import ctypes
from typing import Iterator

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")
_lib: tuple | None = None


def _functions() -> tuple:
    """(get, set) C functions of the loaded OpenBLAS, or (None, None) when there is none."""
    global _lib
    if _lib is not None:
        return _lib
    _lib = (None, None)
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return _lib
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype = ctypes.c_int
                    set_.argtypes = [ctypes.c_int]
                    _lib = (get, set_)
                    return _lib
    return _lib


def get_num_threads() -> int | None:
    """OpenBLAS's current thread count (None when NumPy does not use OpenBLAS)."""
    get, _ = _functions()
    return None if get is None else int(get())


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the body with OpenBLAS limited to ``n`` threads (a no-op without OpenBLAS)."""
    get, set_ = _functions()
    if get is None:
        yield
        return
    before = int(get())
    if before == n:
        yield
        return
    set_(n)
    try:
        yield
    finally:
        set_(before)
