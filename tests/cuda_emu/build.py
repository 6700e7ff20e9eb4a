"""Generated CUDA sources -> C++ shared libraries (g++) -> kernels callable like CuPy's.

A source from symconv/backends/cuda/ is translated, not edited by hand: its PTX float16
conversions become calls into cuda_emu.h, its ``extern "C" __global__`` kernel a static C++
function whose pointer parameters are bounds-checked (``sc_emu_ptr``), and a launcher
``sc_launch_<name>(grid, block, values, bounds)`` loops over the grid as CUDA would. Several
kernels share one library (sources with the same preamble are compiled together under one copy
of it), and libraries are cached on disk by the hash of their text, the header and the compiler.

A `Kernel` is called as CuPy calls a ``RawKernel``: ``kernel((grid,), (block,), args)``. Each
argument is checked against the kernel's parameter list first: arrays for pointers (dtype equal
to the element type, writeable for outputs), NumPy scalars of exactly the parameter's C type
for values, so a launch that would pass the wrong type on a GPU fails here.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from symconv.backends.cuda.preamble import STORAGE

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "cuda_emu.h")
# -O0: g++ time per kernel is what CI pays; the arithmetic is the same IEEE code at any level
FLAGS = ("-std=c++20", "-O0", "-fwrapv", "-ffp-contract=off", "-fPIC", "-shared", "-w")
CHUNK = 400          # kernels per library (one g++ process)
PARALLEL = 2         # g++ processes at once

# C type of a parameter -> the NumPy dtype an argument must have
C_TO_DTYPE = {c: np.dtype(d) for d, c in STORAGE.items()}

_H2F = re.compile(r'asm\("cvt\.f32\.f16 %0, %1;" : "=f"\((\w+)\) : "h"\(([\w.]+)\)\);')
_F2H = re.compile(r'asm\("cvt\.rn\.f16\.f32 %0, %1;" : "=h"\(([\w.]+)\) : "f"\((\w+)\)\);')
_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\((.*?)\) \{\n', re.S)
_LOCAL_POINTER = re.compile(r"\bconst [A-Za-z_][\w ]*\* (\w+) = ")
_BARRIER = ("__syncthreads", "__shfl")


class EmulationError(RuntimeError):
    """A kernel broke a rule the GPU would not forgive (an access out of its arrays' bounds,
    an argument of the wrong type, a barrier it does not declare)."""


@dataclass(frozen=True)
class Param:
    ctype: str       # element type for pointers, value type otherwise
    name: str
    pointer: bool
    const: bool


def parse_params(text: str) -> list[Param]:
    """The parameters of a generated kernel signature."""
    params = []
    for raw in text.split(","):
        decl = " ".join(raw.replace("__restrict__", "").split())
        const = decl.startswith("const ")
        decl = decl[6:] if const else decl
        if "*" in decl:
            ctype, name = decl.split("*")
            params.append(Param(ctype.strip(), name.strip(), True, const))
        else:
            ctype, name = decl.rsplit(" ", 1)
            params.append(Param(ctype.strip(), name, False, const))
    return params


def split_source(source: str) -> tuple[str, str, list[Param], str]:
    """(prefix, kernel name, parameters, body) of one generated source."""
    found = list(_KERNEL.finditer(source))
    if len(found) != 1:
        raise ValueError(f"expected one extern \"C\" __global__ kernel, found {len(found)}")
    match = found[0]
    return source[:match.start()], match.group(1), parse_params(match.group(2)), \
        source[match.end():]


def translate_prefix(prefix: str) -> str:
    """The preamble with its inline PTX replaced by the emulation header's conversions."""
    text = _H2F.sub(r"\1 = sc_emu_h2f(\2);", prefix)
    text = _F2H.sub(r"\1 = sc_emu_f2h(\2);", text)
    if "asm(" in text:
        raise ValueError("the preamble has inline PTX that tests/cuda_emu does not emulate: "
                         + text[text.index("asm("):][:80])
    return text


def uses_barriers(prefix: str, body: str) -> bool:
    """Whether the kernel synchronises threads (itself or through its prefix's helpers)."""
    return any(b in prefix or b in body for b in _BARRIER)


def translate_kernel(name: str, params: list[Param], body: str, barriers: bool) -> str:
    """The kernel as a static C++ function plus its ``extern "C"`` launcher."""
    decls, args = [], []
    for k, p in enumerate(params):
        ctype = ("const " if p.const else "") + p.ctype
        if p.pointer:
            decls.append(f"sc_emu_ptr<{ctype}> {p.name}")
            args.append(f"sc_emu_arg<{ctype}>(v[{k}], lim, {k})")
        else:
            decls.append(f"const {p.ctype} {p.name}")
            args.append(f"sc_emu_scalar<{p.ctype}>(v[{k}])")
    # pointers derived inside the body keep their bounds
    body = _LOCAL_POINTER.sub(r"auto \1 = ", body)
    call = f"{name}(" + ", ".join(args) + ");"
    return (f"static void {name}(" + ", ".join(decls) + ") {\n" + body + "\n"
            f'extern "C" void sc_launch_{name}(unsigned int grid, unsigned int block, '
            f"void** v, const long long* lim) {{\n"
            f"    auto thread = [&]() {{ {call} }};\n"
            f"    sc_emu_run_grid(grid, block, {str(barriers).lower()}, thread);\n}}\n")


@dataclass
class Kernel:
    """One emulated kernel; ``kernel((grid,), (block,), args)`` as CuPy's RawKernel."""

    name: str
    params: list[Param]
    launch: Any
    take_error: Any
    barriers: bool

    def __call__(self, grid: Sequence[int], block: Sequence[int], args: Sequence[Any]) -> None:
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        if block > 1024:
            raise EmulationError(f"{self.name}: {block} threads per block (at most 1024)")
        if len(args) != len(self.params):
            raise EmulationError(f"{self.name}: {len(args)} arguments for "
                                 f"{len(self.params)} parameters")
        keep, values, bounds = [], [], []
        for k, (param, arg) in enumerate(zip(self.params, args)):
            if param.pointer:
                array = self._check_array(k, param, arg)
                lo, hi = _element_bounds(array)
                slot = ctypes.c_void_p(array.ctypes.data)   # the pointer is the value
                keep += [array, slot]
                values.append(ctypes.addressof(slot))
                bounds += [lo, hi]
            else:
                value = self._check_scalar(k, param, arg)
                keep.append(value)
                values.append(value.ctypes.data)
                bounds += [0, 0]
        # CUDA's kernelParams: one pointer per parameter, to the parameter's value
        pointers = (ctypes.c_void_p * len(values))(*values)
        limits = (ctypes.c_longlong * len(bounds))(*bounds)
        self.launch(ctypes.c_uint(grid), ctypes.c_uint(block), pointers, limits)
        info = (ctypes.c_longlong * 6)()
        code = self.take_error(info)
        if code == 1:
            p = self.params[info[0]]
            raise EmulationError(
                f"{self.name}: block {info[4]} thread {info[5]} accessed {p.name}[{info[1]}], "
                f"outside the array's elements [{info[2]}, {info[3]})")
        if code:
            raise EmulationError(f"{self.name}: a barrier or warp shuffle was used outside the "
                                 f"rules (block {info[4]} thread {info[5]})")
        del keep

    def _check_array(self, k: int, param: Param, arg: Any) -> np.ndarray:
        if not isinstance(arg, np.ndarray):
            raise EmulationError(f"{self.name}: parameter {k} ({param.ctype}* {param.name}) "
                                 f"got a {type(arg).__name__}, expected an array")
        want = C_TO_DTYPE[param.ctype]
        if arg.dtype != want:
            raise EmulationError(f"{self.name}: parameter {k} ({param.ctype}* {param.name}) "
                                 f"got an array of {arg.dtype}, expected {want}")
        if not param.const and not arg.flags.writeable:
            raise EmulationError(f"{self.name}: output {param.name} is not writeable")
        return arg

    def _check_scalar(self, k: int, param: Param, arg: Any) -> np.ndarray:
        want = C_TO_DTYPE[param.ctype]
        if not isinstance(arg, np.generic) or arg.dtype != want:
            got = arg.dtype if isinstance(arg, np.generic) else type(arg).__name__
            raise EmulationError(f"{self.name}: parameter {k} ({param.ctype} {param.name}) "
                                 f"got {got}, expected a numpy {want} scalar")
        return np.array(arg)


def _dims(dims: Sequence[int], what: str) -> int:
    dims = tuple(int(d) for d in dims)
    if not 1 <= len(dims) <= 3 or any(d != 1 for d in dims[1:]) or dims[0] < 1:
        raise EmulationError(f"{what} {dims}: the generated kernels use a 1-d {what}")
    return dims[0]


def _element_bounds(array: np.ndarray) -> tuple[int, int]:
    """[lo, hi) element offsets from the array's data pointer that belong to the array."""
    if array.size == 0:
        return 0, 0
    low, high = np.lib.array_utils.byte_bounds(array)
    start, item = array.ctypes.data, array.itemsize
    return (low - start) // item, (high - start) // item


class Emulator:
    """Compiles generated sources in batches and hands out their kernels by name."""

    def __init__(self, cache_dir: str | None = None, compiler: str | None = None) -> None:
        self.compiler = compiler or os.environ.get("CXX") or "g++"
        if shutil.which(self.compiler) is None:
            raise EmulationError(f"no C++ compiler {self.compiler!r} on PATH")
        self.cache_dir = cache_dir or os.path.join(
            tempfile.gettempdir(), f"symconv-cuda-emu-{os.getuid()}")
        os.makedirs(self.cache_dir, exist_ok=True)
        version = subprocess.run([self.compiler, "--version"], capture_output=True,
                                 text=True, check=True).stdout
        with open(HEADER) as fh:
            self._salt = hashlib.sha256((fh.read() + version + " ".join(FLAGS)).encode())
        self.kernels: dict[str, Kernel] = {}
        self.compiled = 0        # kernels compiled by g++ in this process (not from the cache)
        self.libraries = 0       # g++ invocations in this process

    def prepare(self, sources: Iterable[tuple[str, str]]) -> None:
        """Build every source not yet loaded, several per library, up to PARALLEL at once."""
        groups: dict[str, dict[str, tuple[list[Param], str]]] = {}
        for name, source in sources:
            if name in self.kernels:
                continue
            prefix, kname, params, body = split_source(source)
            if kname != name:
                raise ValueError(f"source named {name} defines {kname}")
            groups.setdefault(prefix, {})[name] = (params, body)
        jobs = []
        for prefix, kernels in groups.items():
            items = sorted(kernels.items())
            for start in range(0, len(items), CHUNK):
                jobs.append((prefix, items[start:start + CHUNK]))
        running: list[tuple[subprocess.Popen, str, str, list]] = []
        for prefix, items in jobs:
            text = ('#include "cuda_emu.h"\n' + translate_prefix(prefix) + "\n"
                    + "\n".join(translate_kernel(n, p, b, uses_barriers(prefix, b))
                                for n, (p, b) in items))
            digest = self._salt.copy()
            digest.update(text.encode())
            path = os.path.join(self.cache_dir, digest.hexdigest()[:24] + ".so")
            if os.path.exists(path):
                self._load(path, prefix, items)
                continue
            while len(running) >= PARALLEL:
                self._finish(running.pop(0))
            running.append(self._start(text, path, prefix, items))
        while running:
            self._finish(running.pop(0))

    def _start(self, text: str, path: str, prefix: str, items: list) -> tuple:
        fd, cpp = tempfile.mkstemp(suffix=".cpp", dir=self.cache_dir)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        tmp = path + f".{os.getpid()}.tmp"
        proc = subprocess.Popen([self.compiler, *FLAGS, "-I", HERE, cpp, "-o", tmp, "-lm"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return proc, cpp, tmp, prefix, items

    def _finish(self, job: tuple) -> None:
        proc, cpp, tmp, prefix, items = job
        log = proc.communicate()[0]
        path = tmp.rsplit(".", 2)[0]
        if proc.returncode != 0:
            raise EmulationError(f"g++ could not compile {len(items)} kernels "
                                 f"({', '.join(n for n, _ in items[:3])}, ...); source kept "
                                 f"in {cpp}:\n{log[-4000:]}")
        os.remove(cpp)
        os.replace(tmp, path)
        self.compiled += len(items)
        self.libraries += 1
        self._load(path, prefix, items)

    def _load(self, path: str, prefix: str, items: list) -> None:
        lib = ctypes.CDLL(path)
        lib.sc_emu_take_error.restype = ctypes.c_int
        for name, (params, body) in items:
            launch = getattr(lib, f"sc_launch_{name}")
            launch.restype = None
            self.kernels[name] = Kernel(name, params, launch, lib.sc_emu_take_error,
                                        uses_barriers(prefix, body))

    def kernel(self, name: str, source: str) -> Kernel:
        """The kernel ``name`` of ``source``, compiled alone if no batch prepared it."""
        if name not in self.kernels:
            self.prepare([(name, source)])
        return self.kernels[name]
