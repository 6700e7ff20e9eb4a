"""symconv: a Theano-style define-then-compile graph compiler for convolutional networks."""
from symconv.config import config, change_flags
from symconv import ops  # noqa: F401  (registers every op)
from symconv.graph import Variable, Constant, SharedVariable
from symconv.shared import shared
from symconv.compile import function, Function, UnusedInputError, MissingInputError
from symconv.io import In, Out
from symconv.gradient import grad
from symconv import tensor, gradient, printing, verify  # noqa: F401
from symconv import test_value  # noqa: F401  (registers the test-value hook on new nodes)
from symconv import scan_module  # noqa: F401
from symconv.scan_module import scan, map, reduce, foldl, foldr  # noqa: A004
from symconv import ifelse  # noqa: F401
from symconv.mode import Mode
from symconv.builders import OpFromGraph  # noqa: F401
from symconv import scalar  # noqa: F401
from symconv.printing import pp  # noqa: F401

_LAZY = ("datasets", "bench", "demo", "sparse")   # on top of the package, loaded when first used


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"symconv.{name}")
    raise AttributeError(f"module 'symconv' has no attribute {name!r}")


__version__ = "0.1.0"
__all__ = ["config", "change_flags", "function", "Function", "shared", "grad", "tensor",
           "gradient", "printing", "Variable", "Constant", "SharedVariable",
           "UnusedInputError", "MissingInputError", "In", "Out"]
__all__ += ["scan", "map", "reduce", "foldl", "foldr", "scan_module", "Mode"]
