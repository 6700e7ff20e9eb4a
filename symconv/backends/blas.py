"""The thread count of the BLAS that NumPy uses, read and set through threadpoolctl.

The conv kernels split the batch over their own worker threads and want each worker's BLAS call
single-threaded: two levels of threads on two cores oversubscribe them, and OpenBLAS's
spin-waiting workers then slow every call down by an order of magnitude on a busy machine.

threadpoolctl finds the BLAS in the process (OpenBLAS, MKL, BLIS, Apple's Accelerate through
FlexiBLAS...) on Linux, macOS and Windows. The libraries are looked up once; each change of the
thread count is then one call into the library, as cheap as calling it directly.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

_controllers: list[Any] | None = None


def _numpy_blas() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries NumPy loaded ([] without any, or
    without threadpoolctl)."""
    global _controllers
    if _controllers is not None:
        return _controllers
    _controllers = []
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return _controllers
    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    # prefer the copy bundled with NumPy when another library (PyTorch, SciPy) brought its own
    own = [c for c in blas if "numpy" in str(c.filepath).lower()]
    _controllers = own or list(blas)
    return _controllers


def get_num_threads() -> int | None:
    """The BLAS's current thread count (None when no BLAS library was found)."""
    blas = _numpy_blas()
    return None if not blas else int(blas[0].get_num_threads())


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the body with NumPy's BLAS limited to ``n`` threads (a no-op without one)."""
    blas = _numpy_blas()
    before = [int(c.get_num_threads()) for c in blas]
    changed = [c for c, b in zip(blas, before) if b != n]
    if not changed:
        yield
        return
    for c in changed:
        c.set_num_threads(n)
    try:
        yield
    finally:
        for c, b in zip(blas, before):
            if b != n:
                c.set_num_threads(b)
