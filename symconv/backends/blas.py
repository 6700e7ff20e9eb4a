"""The thread count of the BLAS that NumPy uses, read and set through threadpoolctl.

The conv kernels split the batch over their own worker threads and want each worker's BLAS call
single-threaded: two levels of threads on two cores oversubscribe them, and OpenBLAS's
spin-waiting workers then slow every call down by an order of magnitude on a busy machine.

threadpoolctl finds the BLAS in the process (OpenBLAS, MKL, BLIS, FlexiBLAS...) on Linux,
macOS and Windows, once. OpenBLAS's thread count is then set by calling its own functions in
the library threadpoolctl found (cheap, and from any thread); other libraries go through
threadpoolctl's controllers.
"""
from __future__ import annotations

import contextlib
import ctypes
from typing import Any, Callable, Iterator

_libs: list[tuple[Callable[[], int], Callable[[int], Any]]] | None = None


def _openblas_functions(dynlib: Any) -> tuple[Callable, Callable] | None:
    """OpenBLAS's own (get, set) thread-count functions in a loaded library, or None.

    Called directly rather than through threadpoolctl's OpenBLAS controller, whose setter does
    nothing unless the calling Python thread is the first that ever set it; symconv sets the
    count from whichever thread runs a compiled function.
    """
    for prefix in ("scipy_", ""):
        for suffix in ("64_", ""):
            get = getattr(dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype = ctypes.c_int
                set_.argtypes = [ctypes.c_int]
                return get, set_
    return None


def _numpy_blas() -> list[tuple[Callable[[], int], Callable[[int], Any]]]:
    """(get, set) thread-count functions of the BLAS libraries NumPy loaded ([] without any,
    or without threadpoolctl)."""
    global _libs
    if _libs is not None:
        return _libs
    _libs = []
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return _libs
    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    # prefer the copy bundled with NumPy when another library (PyTorch, SciPy) brought its own
    own = [c for c in blas if "numpy" in str(c.filepath).lower()] or list(blas)
    for controller in own:
        direct = (_openblas_functions(controller.dynlib)
                  if controller.internal_api == "openblas" else None)
        _libs.append(direct or (controller.get_num_threads, controller.set_num_threads))
    return _libs


def get_num_threads() -> int | None:
    """The BLAS's current thread count (None when no BLAS library was found)."""
    blas = _numpy_blas()
    return None if not blas else int(blas[0][0]())


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the body with NumPy's BLAS limited to ``n`` threads (a no-op without one)."""
    restore = []
    for get, set_ in _numpy_blas():
        before = int(get())
        if before != n:
            set_(n)
            restore.append((set_, before))
    try:
        yield
    finally:
        for set_, before in restore:
            set_(before)
