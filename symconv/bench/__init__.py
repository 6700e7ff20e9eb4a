"""Benchmarks of symconv against PyTorch and JAX: ``symconv-bench`` / ``python -m symconv.bench``."""
from symconv.bench.cli import main

__all__ = ["main"]
