"""Loops in the graph: ``scan`` and its views ``map``, ``reduce``, ``foldl``, ``foldr``, and
``until`` for while loops (Theano's ``theano.scan_module``)."""
from symconv.scan_module import op as _op  # noqa: F401  (registers the scan ops)
from symconv.scan_module.builder import scan, until
from symconv.scan_module.views import foldl, foldr, map, reduce
from symconv.scan_module import passes as _passes  # noqa: F401  (registers the rewrites)

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr"]
