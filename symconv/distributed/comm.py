"""The transports behind the collective ops: MPI (mpi4py) for host arrays, NCCL for CuPy arrays.

NumPy buffers go to MPI through the buffer protocol (no pickling, no copies); bucketed
reductions run in place (``MPI.IN_PLACE``) on the packed buffer with ``Iallreduce``. CuPy
buffers go to NCCL on the current stream: NCCL calls are stream-ordered, so the start of a
bucket enqueues the reduction and its wait has nothing left to do. The NCCL path is written
against ``cupy.cuda.nccl`` but has not been run (no GPU was available when it was written).
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np


class CommStats:
    """Time spent inside communication calls (for the benchmark and ``summary()``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls = 0            # collectives started (blocking or not)
        self.bytes = 0            # bytes each rank contributed
        self.blocked_s = 0.0      # time inside blocking Allreduce calls and Wait

    def as_dict(self) -> dict:
        return {"calls": self.calls, "bytes": self.bytes, "blocked_s": self.blocked_s}


class LayoutMismatch(ValueError):
    """The ranks disagree on what they reduce together (they did not build the same graph)."""


class MPICommunicator:
    """All-reduce, broadcast and layout checks over an mpi4py communicator."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = comm
        self.size = comm.Get_size()
        self.rank = comm.Get_rank()
        self.pending: dict[int, tuple[Any, Any]] = {}   # id(buffer) -> (request, buffer)
        self.checked: set[int] = set()
        self.stats = CommStats()
        self._nccl: NcclTransport | None = None
        # progress_interval > 0: a thread tests the requests in flight every that many seconds
        # while the step computes (MPI_THREAD_MULTIPLE; one lock keeps it off a request the
        # main thread starts or waits on)
        self.progress_interval = 0.0
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None

    # -- host arrays over MPI, device arrays over NCCL ---------------------------------------
    def allreduce(self, xp: Any, x: Any, op: str) -> Any:
        """A new array: the sum (or mean) of ``x`` over the ranks."""
        self.stats.calls += 1
        self.stats.bytes += x.nbytes
        if xp is not np:
            out = xp.empty_like(x)
            self.nccl().allreduce(xp, xp.ascontiguousarray(x), out)
            return out / self.size if op == "mean" else out
        send = np.ascontiguousarray(x).reshape(np.shape(x))   # keeps 0-d values 0-d
        recv = np.empty_like(send)
        t0 = time.perf_counter()
        self.comm.Allreduce(send, recv, op=self.MPI.SUM)
        self.stats.blocked_s += time.perf_counter() - t0
        if op == "mean":
            np.divide(recv, self.size, out=recv)
        return recv

    def start(self, xp: Any, buf: Any, op: str) -> None:
        """Begin reducing ``buf`` in place; ``wait(buf)`` completes it."""
        self.stats.calls += 1
        self.stats.bytes += buf.nbytes
        if xp is not np:
            self.nccl().allreduce(xp, buf, buf)
            return
        with self._lock:
            self._test_all()
            request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
            self.pending[id(buf)] = (request, buf)   # the buffer must outlive the request
            if self.progress_interval > 0 and self._poller is None:
                self._poller = threading.Thread(target=self._poll, daemon=True,
                                                name="symconv-mpi-progress")
                self._poller.start()

    def wait(self, xp: Any, buf: Any, op: str) -> Any:
        """Complete the reduction ``start(buf)`` began; returns ``buf``."""
        if xp is np:
            t0 = time.perf_counter()
            with self._lock:
                found = self.pending.pop(id(buf), None)
                if found is None:
                    raise RuntimeError("allreduce_wait: no all-reduce of this buffer is in "
                                       "flight")
                found[0].Wait()
            self.stats.blocked_s += time.perf_counter() - t0
        if op == "mean":
            buf /= self.size
        return buf

    def _test_all(self) -> None:
        """Let MPI advance the reductions in flight (MPICH progresses only inside MPI calls)."""
        for request, _ in self.pending.values():
            request.Test()

    def _poll(self) -> None:
        while True:
            with self._lock:
                if not self.pending:
                    self._poller = None
                    return
                self._test_all()
            time.sleep(self.progress_interval)

    # -- agreement between ranks -------------------------------------------------------------
    def check_layout(self, site: int | None, layout: tuple) -> None:
        """Raise on every rank unless all ranks reduce the same shapes and dtypes here.

        A compiled step checks each of its collectives once (``site`` is set by the bucketing
        pass); an unplanned one (site None) is checked on every call.
        """
        if site is not None and site in self.checked:
            return
        layouts = self.comm.allgather(layout)
        if any(other != layouts[0] for other in layouts):
            ranks = "; ".join(f"rank {r}: {_describe(lay)}" for r, lay in enumerate(layouts))
            raise LayoutMismatch(
                f"allreduce: the ranks reduce tensors of different shapes or dtypes ({ranks}); "
                f"every rank must build the same graph (same model options on every rank)")
        if site is not None:
            self.checked.add(site)

    def broadcast(self, value: np.ndarray, root: int) -> np.ndarray:
        """``value`` from rank ``root`` (contiguous host arrays are filled in place)."""
        buf = value if value.flags.c_contiguous and value.flags.writeable else \
            np.ascontiguousarray(value).copy()
        self.comm.Bcast(buf, root=root)
        return buf

    def nccl(self) -> "NcclTransport":
        if self._nccl is None:
            self._nccl = NcclTransport(self.comm)
        return self._nccl


def _describe(layout: tuple) -> str:
    return ", ".join(f"{dtype}{list(shape)}" for dtype, shape in layout) or "nothing"


class NcclTransport:
    """A NCCL communicator over the same ranks, bootstrapped by broadcasting its id over MPI.

    One rank per GPU: ``symconv.distributed.init()`` selects the GPU of the rank's index on
    its host before the first array is allocated. Untested: no GPU was available.
    """

    def __init__(self, mpi_comm: Any) -> None:
        from cupy.cuda import nccl
        self.nccl = nccl
        uid = nccl.get_unique_id() if mpi_comm.Get_rank() == 0 else None
        uid = mpi_comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(mpi_comm.Get_size(), uid, mpi_comm.Get_rank())
        self.dtypes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                       "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32,
                       "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8,
                       "int8": nccl.NCCL_INT8, "uint32": nccl.NCCL_UINT32,
                       "uint64": nccl.NCCL_UINT64}

    def allreduce(self, xp: Any, send: Any, recv: Any) -> None:
        """Enqueue ``recv = sum over ranks of send`` on the current stream."""
        dtype = self.dtypes.get(send.dtype.name)
        if dtype is None:
            raise TypeError(f"allreduce: NCCL cannot reduce dtype {send.dtype.name}")
        stream = xp.cuda.get_current_stream().ptr
        self.comm.allReduce(send.data.ptr, recv.data.ptr, send.size, dtype,
                            self.nccl.NCCL_SUM, stream)


class LocalCommunicator:
    """A job of one rank (not launched by MPI, or mpi4py absent): every collective is local."""

    size = 1
    rank = 0

    def __init__(self) -> None:
        self.stats = CommStats()

    def allreduce(self, xp: Any, x: Any, op: str) -> Any:
        return xp.array(x, copy=True)

    def start(self, xp: Any, buf: Any, op: str) -> None:
        pass

    def wait(self, xp: Any, buf: Any, op: str) -> Any:
        return buf

    def check_layout(self, site: int | None, layout: tuple) -> None:
        pass

    def broadcast(self, value: np.ndarray, root: int) -> np.ndarray:
        return value
