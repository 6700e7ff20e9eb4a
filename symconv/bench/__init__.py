"""Benchmarks of symconv against PyTorch and JAX: the ``symconv-bench`` command."""
from symconv.bench.cli import main

__all__ = ["main"]
