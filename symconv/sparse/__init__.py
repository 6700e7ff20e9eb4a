"""``from symconv import sparse``: Theano's sparse matrices (SciPy csc/csr) in graphs, CPU only.

Needs SciPy (``pip install symconv[sparse]``).
"""
try:
    import scipy.sparse  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without scipy
    raise ImportError("symconv.sparse needs SciPy: pip install 'symconv[sparse]' "
                      "(or pip install scipy)") from err

from symconv.sparse.type import (SparseType, SparseVariable, SparseConstant,  # noqa: F401
                                 SparseSharedVariable, all_dtypes, sparse_shared)
from symconv.sparse.basic import *  # noqa: F401,F403
from symconv.sparse.basic import (abs_, add, as_sparse_variable, cast, csm_properties,  # noqa
                                  dot, mul, neg, sub, transpose)
from symconv.sparse.basic import sparse_constant as constant  # noqa: F401
from symconv.sparse.more import *  # noqa: F401,F403

sparse_formats = ["csc", "csr"]
float_dtypes = sorted(t for t in all_dtypes if t.startswith("float"))
complex_dtypes = sorted(t for t in all_dtypes if t.startswith("complex"))
int_dtypes = sorted(t for t in all_dtypes if t.startswith("int"))
uint_dtypes = sorted(t for t in all_dtypes if t.startswith("uint"))
integer_dtypes = int_dtypes + uint_dtypes
discrete_dtypes = integer_dtypes
continuous_dtypes = complex_dtypes + float_dtypes


def matrix(format: str, name: str | None = None, dtype: str | None = None) -> SparseVariable:
    """A symbolic sparse matrix of ``format`` ('csc' or 'csr'); dtype defaults to floatX."""
    return SparseType(format, dtype)(name)


def csc_matrix(name: str | None = None, dtype: str | None = None) -> SparseVariable:
    """A symbolic csc matrix."""
    return matrix("csc", name, dtype)


def csr_matrix(name: str | None = None, dtype: str | None = None) -> SparseVariable:
    """A symbolic csr matrix."""
    return matrix("csr", name, dtype)


csc_dmatrix = SparseType("csc", "float64")
csr_dmatrix = SparseType("csr", "float64")
csc_fmatrix = SparseType("csc", "float32")
csr_fmatrix = SparseType("csr", "float32")
shared = sparse_shared


def _register_shared() -> None:
    import importlib
    _shared_module = importlib.import_module("symconv.shared")
    if sparse_shared not in _shared_module.shared_constructors:
        _shared_module.shared_constructors.append(sparse_shared)


_register_shared()
