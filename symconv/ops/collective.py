"""Collective ops: all-reduce across the ranks of a data-parallel job, and its bucketed form.

``allreduce(x, op)`` is an ordinary graph op (its adjoint is an all-reduce of the gradient),
so a compiled training step contains its own communication. The compiler's bucketing pass
(``symconv.rewrites.bucketing``) turns independent all-reduces into

    token = allreduce_start([previous token,] x1, ..., xm)   # pack + non-blocking all-reduce
    flat  = allreduce_wait(token)                             # complete (a view of the token)
    xi'   = allreduce_unpack(flat, x1, ..., xm, index=i)      # a view of the part of xi

The ops never import MPI: the transport is a *communicator* installed by
``symconv.distributed.init()`` (``set_communicator``). Without one a process is a job of one
rank, where an all-reduce is the identity.
"""
from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np

from symconv.graph import Op, TensorType, Variable, as_tensor_variable

REDUCTIONS = ("sum", "mean")
# environment variables the MPI launchers set in every rank they start
LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


class Communicator(Protocol):
    """The transport a distributed job installs (see ``symconv.distributed.comm``)."""

    size: int

    def allreduce(self, xp: Any, x: Any, op: str) -> Any: ...
    def start(self, xp: Any, buf: Any, op: str) -> None: ...
    def wait(self, xp: Any, buf: Any, op: str) -> Any: ...
    def check_layout(self, site: int | None, layout: tuple) -> None: ...


class _State:
    communicator: Communicator | None = None
    bucket_bytes: int = 1 << 20       # PyTorch DDP's first bucket; 0 = one call per tensor
    overlap: bool = True              # non-blocking start/wait pairs instead of blocking calls


STATE = _State()


def set_communicator(communicator: Communicator | None) -> None:
    """Install the transport every collective kernel uses (None: a job of one rank)."""
    STATE.communicator = communicator


def communicator() -> Communicator | None:
    """The installed transport; raises if this process was launched by MPI without one."""
    comm = STATE.communicator
    if comm is None:
        launched = [v for v in LAUNCHER_VARS if v in os.environ]
        if launched and int(os.environ.get("PMI_SIZE", os.environ.get(
                "OMPI_COMM_WORLD_SIZE", "2"))) > 1:
            raise RuntimeError(
                f"allreduce: this process was started by an MPI launcher ({launched[0]} is set) "
                f"but symconv.distributed.init() was not called; call it before the first "
                f"compiled step, or every rank would train alone")
    return comm


def job_size() -> int | None:
    """Number of ranks of the installed communicator, or None when none is installed."""
    comm = STATE.communicator
    return None if comm is None else comm.size


def _reduction(op: str) -> str:
    if op not in REDUCTIONS:
        raise ValueError(f"allreduce: op must be one of {REDUCTIONS}, got {op!r}")
    return op


def _check_dtype(name: str, t: TensorType, op: str) -> None:
    if t.dtype == "bool" or t.dtype.startswith("complex"):
        raise TypeError(f"{name}: cannot reduce {t} (dtype {t.dtype}); use a numeric dtype")
    if op == "mean" and not t.dtype.startswith("float"):
        raise TypeError(f"{name}: op='mean' needs a float tensor, got {t}; cast it or use "
                        f"op='sum'")


def layout_of(arrays: Any) -> tuple:
    """What every rank must agree on before reducing these arrays together."""
    return tuple((str(a.dtype), tuple(a.shape)) for a in arrays)


# -- allreduce: the user-facing op -------------------------------------------------------------

def _allreduce_prepare(inputs: list, params: dict) -> tuple[list[Variable], dict]:
    params.setdefault("op", "sum")
    _reduction(params["op"])
    params.setdefault("nbytes", None)   # a size estimate for bucketing when shapes are unknown
    params.setdefault("site", None)     # set by the bucketing pass: where to check layouts once
    return [as_tensor_variable(x) for x in inputs], params


def _allreduce_infer(t: TensorType, op: str, nbytes: int | None, site: int | None
                     ) -> TensorType:
    _check_dtype("allreduce", t, op)
    return t


def _allreduce_kernel(xp: Any, x: Any, op: str, nbytes: int | None, site: int | None) -> Any:
    comm = communicator()
    if comm is None or comm.size == 1:
        return xp.array(x, copy=True)
    comm.check_layout(site, layout_of([x]))
    return comm.allreduce(xp, x, op)


def _allreduce_grad(g: Variable, out: Variable, x: Variable, op: str, nbytes: int | None,
                    site: int | None) -> list:
    # every rank's loss depends on every rank's x: dL/dx_s = sum over r of g_r (times 1/n)
    return [allreduce(g, op=op)]


allreduce = Op("allreduce", _allreduce_infer, _allreduce_kernel, _allreduce_grad,
               prepare=_allreduce_prepare,
               doc="Sum (or mean) of ``x`` over every rank of the job; every rank gets it.")


# -- the bucketed, non-blocking form the compiler builds ---------------------------------------

def _start_infer(*types: TensorType, op: str, chained: bool, site: int | None) -> TensorType:
    parts = types[1:] if chained else types
    dtypes = {t.dtype for t in parts}
    if len(dtypes) != 1:
        raise TypeError(f"allreduce_start: a bucket holds one dtype, got {sorted(dtypes)}")
    for t in parts:
        _check_dtype("allreduce_start", t, op)
    sizes = [int(np.prod(t.shape)) if None not in t.shape else None for t in parts]
    return TensorType(parts[0].dtype, (None if None in sizes else sum(sizes),))


def _start_kernel(xp: Any, *arrays: Any, op: str, chained: bool, site: int | None) -> Any:
    parts = arrays[1:] if chained else arrays      # the chained token only orders the starts
    buf = xp.empty(sum(int(a.size) for a in parts), dtype=parts[0].dtype)
    offset = 0
    for a in parts:                                 # the one copy: packing into the bucket
        buf[offset:offset + a.size] = a.reshape(-1)
        offset += a.size
    comm = communicator()
    if comm is not None and comm.size > 1:
        comm.check_layout(site, layout_of(parts))
        comm.start(xp, buf, op)
    return buf


def _wait_infer(t: TensorType, *after: TensorType, op: str) -> TensorType:
    return t


def _wait_kernel(xp: Any, token: Any, *after: Any, op: str) -> Any:
    comm = communicator()
    if comm is None or comm.size == 1:
        return token
    return comm.wait(xp, token, op)


def _unpack_infer(flat: TensorType, *parts: TensorType, index: int) -> TensorType:
    return parts[index]


def _unpack_kernel(xp: Any, flat: Any, *parts: Any, index: int) -> Any:
    offset = sum(int(p.size) for p in parts[:index])
    part = parts[index]
    return flat[offset:offset + part.size].reshape(part.shape)


allreduce_start = Op(
    "allreduce_start", _start_infer, _start_kernel, None, differentiable=False,
    doc="Pack the parts into one buffer and start its all-reduce; returns the buffer (a token "
        "that only allreduce_wait may read). With chained=True the first input is the previous "
        "bucket's token, which only orders the starts.")
allreduce_wait = Op(
    "allreduce_wait", _wait_infer, _wait_kernel, None, differentiable=False, view=True,
    doc="Complete the all-reduce a token started; returns its buffer. Further inputs (later "
        "tokens) only order the wait after their starts.")
allreduce_unpack = Op("allreduce_unpack", _unpack_infer, _unpack_kernel, None,
                      differentiable=False, view=True,
                      doc="Part ``index`` of a reduced bucket, as a view shaped like that part.")
