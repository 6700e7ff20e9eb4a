"""CUDA C source generation for the CuPy backend: kernels as deterministic strings.

Nothing here imports CuPy: every generator returns ``(kernel_name, source)`` so the sources can
be compile-checked with NVRTC on machines without a GPU (see ``nvrtc.py`` and
tests/test_cuda_codegen.py). ``symconv.backends.cupy`` compiles and launches them.
"""
