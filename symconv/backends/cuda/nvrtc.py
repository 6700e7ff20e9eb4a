"""Compile CUDA source to PTX with NVRTC through ctypes: a compile check that needs no GPU.

``pip install "nvidia-cuda-nvrtc>=13,<14"`` (in the ``test`` extra) installs ``libnvrtc.so.13``
under ``site-packages/nvidia/cu13/lib`` (older wheels: ``nvidia/cuda_nvrtc/lib``); a system
CUDA toolkit's library is used when no wheel is found.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from functools import lru_cache

DEFAULT_OPTIONS = ("-arch=compute_90", "--std=c++17")


class NvrtcUnavailable(RuntimeError):
    """libnvrtc could not be found or loaded."""


class CompileError(RuntimeError):
    """NVRTC rejected a source; the message holds its log."""


def _candidates() -> list[str]:
    paths: list[str] = []
    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        for sub in ("cu13/lib", "cuda_nvrtc/lib", "cu12/lib"):
            paths += sorted(glob.glob(os.path.join(root, sub, "libnvrtc.so*")))
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            paths += sorted(glob.glob(os.path.join(home, "lib64", "libnvrtc.so*")))
    # libnvrtc-builtins is a helper loaded by libnvrtc itself, never the entry point
    return [p for p in paths if "builtins" not in os.path.basename(p)] + ["libnvrtc.so"]


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The loaded libnvrtc, or NvrtcUnavailable saying where it was looked for."""
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as err:
            tried.append(f"{path}: {err}")
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        return lib
    raise NvrtcUnavailable("libnvrtc not found; install it with "
                           "pip install 'nvidia-cuda-nvrtc>=13,<14' (tried: "
                           + "; ".join(tried) + ")")


def version() -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    library().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def _check(lib: ctypes.CDLL, status: int, what: str) -> None:
    if status != 0:
        raise CompileError(f"{what}: {lib.nvrtcGetErrorString(status).decode()}")


def compile_to_ptx(source: str, name: str = "kernel.cu",
                   options: tuple[str, ...] = DEFAULT_OPTIONS) -> str:
    """PTX for ``source``; CompileError with NVRTC's log when it does not compile."""
    lib = library()
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(),
                                       0, None, None), "nvrtcCreateProgram")
    try:
        opts = [o.encode() for o in options]
        status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if status != 0:
            numbered = "\n".join(f"{i + 1:4d} {line}"
                                 for i, line in enumerate(source.splitlines()))
            raise CompileError(f"NVRTC could not compile {name}:\n{log.value.decode()}\n"
                               f"source:\n{numbered}")
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
        ptx = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def compile_many(sources: list[tuple[str, str]], chunk: int = 150,
                 options: tuple[str, ...] = DEFAULT_OPTIONS) -> int:
    """Compile-check ``(name, source)`` pairs, several kernels per NVRTC call; returns how many
    distinct kernels were compiled. Sources sharing a preamble (the text before their
    ``extern "C"`` definition) are concatenated under one copy of it."""
    groups: dict[str, dict[str, str]] = {}
    for name, source in sources:
        cut = source.rindex('extern "C"')
        groups.setdefault(source[:cut], {})[name] = source[cut:]
    count = 0
    for prefix, kernels in groups.items():
        items = sorted(kernels.items())
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            names = ", ".join(n for n, _ in part[:3]) + (", ..." if len(part) > 3 else "")
            compile_to_ptx(prefix + "\n".join(k for _, k in part), f"batch({names}).cu",
                           options)
            count += len(part)
    return count
