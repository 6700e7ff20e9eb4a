"""Data-parallel training over MPI (mpi4py) and NCCL (CuPy): ranks, all-reduce, sharding.

Importing this module does not import mpi4py; ``init()`` does, and only when the process was
started by an MPI launcher (``mpiexec -n 2 python train.py``). Run alone, the same script is a
job of one rank and every collective is the identity. See docs/distributed.md.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any, Sequence

import numpy as np

from symconv.distributed.comm import (CommStats, LayoutMismatch, LocalCommunicator,
                                      MPICommunicator)
from symconv.graph import SharedVariable, Variable
from symconv.ops import collective
from symconv.ops.collective import LAUNCHER_VARS, allreduce as _allreduce_op

__all__ = ["init", "rank", "size", "is_root", "allreduce", "grad", "broadcast_shared", "shard",
           "local_batch_size", "barrier", "set_bucketing", "set_progress", "stats",
           "DataParallel", "LayoutMismatch", "launched_by_mpi"]


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (mpiexec, mpirun, srun with PMI) started this process."""
    return any(var in os.environ for var in LAUNCHER_VARS)


def init(comm: Any = None, abort_on_error: bool = True) -> Any:
    """Join the job (idempotent); returns the communicator.

    Parameters
    ----------
    comm : mpi4py communicator, optional
        The ranks to train over (default ``MPI.COMM_WORLD`` when launched by MPI).
    abort_on_error : bool
        Install a ``sys.excepthook`` that prints the failing rank's traceback and calls
        ``MPI_Abort``, so an exception on one rank ends every rank instead of leaving them
        waiting in a collective.

    Without an MPI launcher (and no ``comm``), the process is a job of one rank.
    """
    current = collective.STATE.communicator
    if current is not None:
        return current
    if comm is None and not launched_by_mpi():
        communicator: Any = LocalCommunicator()
    else:
        try:
            from mpi4py import MPI
        except ImportError as err:
            raise RuntimeError("symconv.distributed: this process was started by an MPI "
                               "launcher but mpi4py is not installed; pip install "
                               "'symconv[distributed]' (mpi4py and the mpich wheel)") from err
        communicator = MPICommunicator(comm if comm is not None else MPI.COMM_WORLD)
        if abort_on_error and communicator.size > 1:
            _install_abort_hook(communicator)
        _select_gpu(communicator)
    collective.set_communicator(communicator)
    return communicator


def _install_abort_hook(communicator: MPICommunicator) -> None:
    previous = sys.excepthook

    def abort(exc_type: type, exc: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(f"symconv.distributed: rank {communicator.rank} of "
                         f"{communicator.size} failed; aborting the job\n{text}")
        sys.stderr.flush()
        if exc_type is KeyboardInterrupt:
            previous(exc_type, exc, tb)
        # the launcher forwards this rank's stderr asynchronously and stops forwarding when the
        # job is aborted: give it a moment, or the message that says why can be lost
        time.sleep(0.5)
        communicator.comm.Abort(1)
    sys.excepthook = abort


def _select_gpu(communicator: MPICommunicator) -> None:
    """One rank per GPU: the rank's index among the ranks on its host picks the device."""
    from symconv.config import config
    if config.device != "cuda":
        return     # 'cpu', or an explicit 'cudaN' the user chose per rank
    import cupy
    local = communicator.comm.Split_type(communicator.MPI.COMM_TYPE_SHARED).Get_rank()
    cupy.cuda.Device(local % cupy.cuda.runtime.getDeviceCount()).use()


def _communicator() -> Any:
    return collective.STATE.communicator or init()


def rank() -> int:
    """This process's index in the job (0 when run alone)."""
    return _communicator().rank


def size() -> int:
    """Number of processes in the job (1 when run alone)."""
    return _communicator().size


def is_root() -> bool:
    """Whether this is rank 0: the one that prints and saves."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    comm = _communicator()
    if comm.size > 1:
        comm.comm.Barrier()


def allreduce(x: Any, op: str = "sum", nbytes: int | None = None) -> Variable:
    """Symbolic sum (or mean, ``op='mean'``) of ``x`` over every rank.

    A graph op: its gradient is the all-reduce of the gradient, and compiled functions run
    the communication as part of the step. ``nbytes`` is a size estimate the compiler uses to
    bucket small tensors together when ``x``'s shape is not known statically.
    """
    return _allreduce_op(x, op=op, nbytes=nbytes)


def grad(cost: Variable, wrt: Sequence[Variable], op: str = "mean") -> list[Variable]:
    """``T.grad(cost, wrt)``, each gradient all-reduced over the ranks (mean by default:
    each rank's cost is the mean over its shard of an evenly split minibatch)."""
    from symconv.gradient import grad as symbolic_grad
    grads = symbolic_grad(cost, list(wrt))
    return [allreduce(g, op=op, nbytes=_nbytes(p)) for g, p in zip(grads, wrt)]


def _nbytes(var: Variable) -> int | None:
    if isinstance(var, SharedVariable):
        return int(np.asarray(var.get_value(borrow=True)).nbytes)
    return None


def broadcast_shared(params: Sequence[SharedVariable], root: int = 0) -> None:
    """Give every rank rank ``root``'s values of the shared variables.

    Raises ``LayoutMismatch`` on every rank if the ranks' values differ in shape or dtype.
    """
    comm = _communicator()
    if comm.size == 1:
        return
    values = [np.asarray(p.get_value(borrow=True)) for p in params]
    comm.check_layout(None, collective.layout_of(values))
    for p, value in zip(params, values):
        p.set_value(comm.broadcast(value, root), borrow=True)


def shard(start: int, stop: int, rank_: int | None = None, size_: int | None = None
          ) -> tuple[int, int]:
    """This rank's contiguous part ``(a, b)`` of the index range ``[start, stop)``; parts
    differ in length by at most one (the first ranks get the longer ones)."""
    r = rank() if rank_ is None else rank_
    n = size() if size_ is None else size_
    if not 0 <= r < n:
        raise ValueError(f"shard: rank {r} is outside a job of {n} ranks")
    length, extra = divmod(stop - start, n)
    a = start + r * length + min(r, extra)
    return a, a + length + (1 if r < extra else 0)


def local_batch_size(global_batch_size: int, size_: int | None = None) -> int:
    """Each rank's minibatch size; the global size must split evenly so that the mean of the
    ranks' mean costs is the mean cost of the global minibatch."""
    n = size() if size_ is None else size_
    if global_batch_size % n:
        raise ValueError(f"a global minibatch of {global_batch_size} does not split evenly over "
                         f"{n} ranks; choose a multiple of {n}")
    return global_batch_size // n


def set_bucketing(bucket_bytes: int | None = None, overlap: bool | None = None) -> dict:
    """Set how functions compiled from now on reduce gradients; returns the previous settings.

    ``bucket_bytes``: small all-reduces are packed into buckets of about this size, one call
    each (0: one call per tensor). ``overlap``: buckets are reduced with non-blocking calls
    started as soon as their gradients are computed and waited on before first use.
    """
    state = collective.STATE
    before = {"bucket_bytes": state.bucket_bytes, "overlap": state.overlap}
    if bucket_bytes is not None:
        state.bucket_bytes = int(bucket_bytes)
    if overlap is not None:
        state.overlap = bool(overlap)
    return before


def set_progress(interval_s: float) -> None:
    """Advance non-blocking reductions from a thread that tests them every ``interval_s``
    seconds while the step computes (0: only at the next start and at the wait).

    MPICH moves a non-blocking collective forward only inside MPI calls; the step's kernels
    release the GIL, so a polling thread lets the reduction proceed during backward at the
    cost of a few wake-ups. ``MPICH_ASYNC_PROGRESS=1`` is MPICH's own (spinning) thread.
    """
    comm = _communicator()
    if isinstance(comm, MPICommunicator):
        comm.progress_interval = float(interval_s)


def stats() -> CommStats:
    """Counters of this rank's communication (calls, bytes, time blocked in MPI)."""
    return _communicator().stats


class DataParallel:
    """What a training script needs to run data-parallel, in one object.

    ``DataParallel(500)`` joins the job and splits each global minibatch of 500 examples
    evenly over the ranks; with ``enabled=False`` it is a job of one rank and every helper is
    the identity, so the same script runs both ways.
    """

    def __init__(self, global_batch_size: int, enabled: bool = True) -> None:
        self.enabled = enabled
        if enabled:
            init()
        self.rank = rank() if enabled else 0
        self.size = size() if enabled else 1
        self.global_batch = global_batch_size
        self.local_batch = local_batch_size(global_batch_size, self.size)

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def minibatch(self, data: Any, index: Any) -> Any:
        """This rank's shard of global minibatch ``index`` of ``data`` (symbolic or not)."""
        start = index * self.global_batch + self.rank * self.local_batch
        return data[start:start + self.local_batch]

    def mean(self, x: Variable) -> Variable:
        """The mean of ``x`` over the ranks (a cost or an error rate of the global batch)."""
        return allreduce(x, op="mean") if self.enabled else x

    def grad(self, cost: Variable, params: Sequence[Variable]) -> list[Variable]:
        """Gradients of the global minibatch's mean cost (``cost``: this rank's mean)."""
        if not self.enabled:
            from symconv.gradient import grad as symbolic_grad
            return symbolic_grad(cost, list(params))
        return grad(cost, params, op="mean")

    def broadcast(self, params: Sequence[SharedVariable]) -> None:
        """Every rank starts from rank 0's values."""
        if self.enabled:
            broadcast_shared(params)
