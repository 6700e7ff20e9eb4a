"""Data-parallel training: the all-reduce op, the bucketing pass and jobs of two MPI ranks.

The in-process tests use a simulated job of identical ranks (every rank holds the same
values, so a sum over the ranks is ``size * x``); the others launch ``mpiexec -n 2`` on the
scripts in tests/mpi_scripts/ and skip when mpi4py or mpiexec is absent.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv import datasets, distributed
from symconv.ops import collective
from symconv.ops.collective import allreduce
from util import check_grad

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"


class IdenticalRanks:
    """A communicator simulating ``size`` ranks that all hold the same values; it logs calls."""

    def __init__(self, size: int = 2) -> None:
        self.size, self.rank = size, 0
        self.log: list[str] = []
        self.stats = None

    def allreduce(self, xp, x, op):
        self.log.append("allreduce")
        return xp.array(x) * (1 if op == "mean" else self.size)

    def start(self, xp, buf, op):
        self.log.append(f"start {buf.size}")

    def wait(self, xp, buf, op):
        self.log.append(f"wait {buf.size}")
        if op == "sum":
            buf *= self.size
        return buf

    def check_layout(self, site, layout):
        self.log.append(f"check {site}")


@pytest.fixture
def job():
    """Install a simulated 2-rank job (and the default bucketing) for one test."""
    before = collective.STATE.communicator
    settings = distributed.set_bucketing(bucket_bytes=1 << 20, overlap=True)
    comm = IdenticalRanks()
    collective.set_communicator(comm)
    yield comm
    collective.set_communicator(before)
    distributed.set_bucketing(**settings)


def _mlp(rng):
    """A 3-layer tanh MLP's cost and its parameters (the gradients of the first layer are the
    last ones backward makes)."""
    x = T.dmatrix("x")
    sizes = [(6, 5), (5, 4), (4, 3)]
    params = []
    h = x
    for i, (n_in, n_out) in enumerate(sizes):
        W = symconv.shared(rng.normal(size=(n_in, n_out)), name=f"W{i}")
        b = symconv.shared(rng.normal(size=n_out), name=f"b{i}")
        params += [W, b]
        h = T.tanh(T.dot(h, W) + b)
    return x, T.mean(h ** 2), params


# -- the op in one process ----------------------------------------------------------------

def test_allreduce_alone_is_the_identity_and_import_symconv_needs_no_mpi(rng):
    x = T.dmatrix("x")
    value = rng.normal(size=(2, 3))
    f = symconv.function([x], [allreduce(x), distributed.allreduce(x, op="mean")])
    for got in f(value):
        np.testing.assert_array_equal(got, value)
    assert got is not value
    check_grad(lambda v: allreduce(v, op="mean") * v, [value])
    code = "import sys, symconv, symconv.distributed; print('mpi4py' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k not in collective.LAUNCHER_VARS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "False"


def test_bad_reductions_are_build_time_errors():
    with pytest.raises(ValueError, match="op must be one of \\('sum', 'mean'\\), got 'max'"):
        allreduce(T.dvector(), op="max")
    with pytest.raises(TypeError, match="op='mean' needs a float tensor, got .*int32"):
        allreduce(T.ivector(), op="mean")
    with pytest.raises(TypeError, match="cannot reduce .*bool"):
        allreduce(T.bvector() > 0)


def test_launched_by_mpi_without_init_is_an_error(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "0")
    before = collective.STATE.communicator
    collective.set_communicator(None)
    try:
        x = T.dvector("x")
        f = symconv.function([x], allreduce(x))
        with pytest.raises(RuntimeError, match="init\\(\\) was not called"):
            f(np.ones(2))
    finally:
        collective.set_communicator(before)


def test_one_rank_job_compiles_allreduce_away():
    before = collective.STATE.communicator
    collective.set_communicator(distributed.comm.LocalCommunicator())
    try:
        assert (distributed.rank(), distributed.size(), distributed.is_root()) == (0, 1, True)
        x = T.dvector("x")
        f = symconv.function([x], allreduce(allreduce(x) * 2, op="mean"))
        assert not [n for n in f.program.nodes if n.op.name.startswith("allreduce")]
        np.testing.assert_array_equal(f(np.arange(3.0)), [0, 2, 4])
    finally:
        collective.set_communicator(before)


def test_shard_and_local_batch_size():
    parts = [distributed.shard(10, 17, r, 3) for r in range(3)]
    assert parts == [(10, 13), (13, 15), (15, 17)]
    assert distributed.local_batch_size(500, 2) == 250
    with pytest.raises(ValueError, match="minibatch of 500 does not split evenly over 3 ranks"):
        distributed.local_batch_size(500, 3)
    with pytest.raises(ValueError, match="rank 3 is outside a job of 3 ranks"):
        distributed.shard(0, 9, 3, 3)


# -- the bucketing pass, on a simulated job of identical ranks ---------------------------------

def test_gradient_of_allreduce_in_a_job_matches_finite_differences(job, rng):
    # identical ranks perturbed together: d/dx of sum(allreduce(x) * x) is 2 * size * x
    check_grad(lambda v: allreduce(v) * v, [rng.normal(size=(3, 2))])
    check_grad(lambda v: T.tanh(allreduce(v, op="mean")), [rng.normal(size=4)])


@pytest.mark.parametrize("bucket_bytes, overlap, starts", [
    (0, False, 0),          # one blocking all-reduce per gradient
    (1 << 20, False, 1),    # one bucket, blocking
    (1 << 20, True, 1),     # one bucket, started early
    (200, True, 3),         # (b2, W2, b1) 152 B, (W1, b0) 200 B, W0 240 B (a bias gradient
                            # is one sum, ready before its weight's: rewrites/fold.py)
])
def test_bucketed_gradients_equal_plain_ones(job, rng, bucket_bytes, overlap, starts):
    distributed.set_bucketing(bucket_bytes=bucket_bytes, overlap=overlap)
    x, cost, params = _mlp(rng)
    data = rng.normal(size=(7, 6))
    f = symconv.function([x], distributed.grad(cost, params, op="sum"))
    names = [n.op.name for n in f.program.nodes]
    assert names.count("allreduce_start") == starts
    assert names.count("allreduce") == (len(params) if starts == 0 else 0)
    expected = symconv.function([x], T.grad(cost, params))(data)
    for got, want in zip(f(data), expected):
        np.testing.assert_allclose(got, 2 * want, rtol=1e-12)
    # every collective's layout is checked, each at a site of its own
    checks = [line for line in job.log if line.startswith("check")]
    assert len(checks) == len(set(checks)) == (starts or len(params))


def test_buckets_start_during_backward_and_wait_at_first_use(job, rng):
    distributed.set_bucketing(bucket_bytes=1, overlap=True)   # one bucket per gradient
    x, cost, params = _mlp(rng)
    grads = distributed.grad(cost, params, op="mean")
    f = symconv.function([x], cost, updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)])
    nodes = f.program.nodes
    names = [n.op.name for n in nodes]
    starts = [i for i, n in enumerate(names) if n == "allreduce_start"]
    waits = [i for i, n in enumerate(names) if n == "allreduce_wait"]
    assert len(starts) == len(waits) == len(params)
    # every bucket starts before any waits, and backward work runs between the starts
    assert max(starts) < min(waits)
    assert any(name == "dot" for name in names[starts[0]:starts[-1]])
    # the first bucket holds an output-layer gradient (ready first), the last an input-layer one
    assert nodes[starts[0]].inputs[-1].name.strip("()") in ("dcost/dW2", "dcost/db2")
    assert nodes[starts[-1]].inputs[-1].name.strip("()") in ("dcost/dW0", "dcost/db0")
    before = [p.get_value() for p in params]
    data = rng.normal(size=(7, 6))
    expected = symconv.function([x], T.grad(cost, params))(data)
    f(data)
    for p, b, g in zip(params, before, expected):
        np.testing.assert_allclose(p.get_value(), b - 0.1 * g, rtol=1e-12)
    assert job.log.index(f"wait {params[4].get_value().size}") > max(
        i for i, line in enumerate(job.log) if line.startswith("start"))


def test_without_overlap_each_bucket_is_waited_before_the_next_starts(job, rng):
    distributed.set_bucketing(bucket_bytes=1, overlap=False)
    x, cost, params = _mlp(rng)
    f = symconv.function([x], distributed.grad(cost, params))
    names = [n.op.name for n in f.program.nodes if n.op.name.startswith("allreduce_")]
    starts_waits = [n for n in names if n != "allreduce_unpack"]
    assert starts_waits == ["allreduce_start", "allreduce_wait"] * len(params)


# -- two MPI ranks ---------------------------------------------------------------------------

def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install mpi4py mpich)")
    beside = Path(sys.executable).parent / "mpiexec"   # the mpich wheel's, in a virtualenv
    found = str(beside) if beside.exists() else shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return found


def _launch(script: str, *args: str, timeout: float = 60, float64: bool = False,
            flags: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in collective.LAUNCHER_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if float64 or flags:
        env["SYMCONV_FLAGS"] = flags or "floatX=float64"
    return subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(SCRIPTS / script), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def _check(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_ranks_allreduce_values_gradients_buckets_and_mismatches(tmp_path):
    _check(_launch("collectives.py", str(tmp_path / "out")))
    ranks = [json.loads((tmp_path / f"out.{r}.json").read_text()) for r in range(2)]
    base = np.arange(6.0).reshape(2, 3)
    for res in ranks:
        np.testing.assert_array_equal(res["sum"], 3 * base)      # 1 * base + 2 * base
        np.testing.assert_array_equal(res["mean"], 1.5 * base)
        np.testing.assert_array_equal(res["grad"], np.full((2, 3), 3.0))   # 1 + 2
        np.testing.assert_array_equal(res["broadcast"], np.zeros(4))        # rank 0's
        assert "rank 0: float64[3]; rank 1: float64[4]" in res["mismatch"]
        assert "rank 0: float64[2, 2]; rank 1: float64[2, 3]" in res["broadcast_mismatch"]
        runs = res["runs"]
        assert [runs[k]["starts"] for k in runs] == [0, 1, 1, 4, 4]   # loss, W, b, s: 8 B
        assert runs["plain"]["plain"] == 4
    # every variant gives the mean of the ranks' own gradients, on both ranks
    local = [[np.array(g) for g in res["local_grads"]] for res in ranks]
    for res in ranks:
        for run in res["runs"].values():
            for got, a, b in zip(run["values"][1:], *local):
                np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-13, atol=1e-16)
            np.testing.assert_allclose(run["values"][0], ranks[0]["runs"]["plain"]["values"][0])


def test_lenet_on_two_ranks_with_half_batches_equals_one_process(tmp_path):
    _check(_launch("lenet_equivalence.py", str(tmp_path / "eq.npz"), float64=True))
    with np.load(tmp_path / "eq.npz") as data:
        arrays = [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]
    n = (len(arrays) - 1) // 2
    final, costs, initial = arrays[:n], arrays[n], arrays[n + 1:]
    for (parallel, alone), (start, _) in zip(final, initial):
        np.testing.assert_allclose(parallel, alone, rtol=1e-10, atol=1e-13)
        assert np.abs(parallel - start).max() > 1e-6   # the steps did move every parameter
    np.testing.assert_allclose(costs[0], costs[1], rtol=1e-12)


def test_a_failing_rank_ends_the_job_with_its_error():
    # without the abort, rank 0 would wait in its all-reduce until the timeout fails the test
    result = _launch("failing_rank.py", timeout=60)
    assert result.returncode != 0
    assert "rank 1 of 2 failed; aborting the job" in result.stderr
    assert "shapes (2,3) and (4,2) not aligned" in result.stderr
    assert "step 1" in result.stdout and "step 2" not in result.stdout   # rank 0 never got past


def test_lenet_distributed_checkpoint_is_saved_by_rank_0_and_resumed_everywhere(tmp_path):
    sample = datasets.load_mnist_sample()
    datasets.save_idx(tmp_path / "images-idx3-ubyte.gz", sample.images[:100])
    datasets.save_idx(tmp_path / "labels-idx1-ubyte.gz", sample.labels[:100])
    params = tmp_path / "params.npz"
    _check(_launch("lenet_checkpoint.py", str(tmp_path), str(params), str(tmp_path / "out")))
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["out.0.npz", "out.1.npz",
                                                               "params.npz"]   # no temp files
    ranks = [np.load(tmp_path / f"out.{r}.npz") for r in range(2)]
    assert ranks[0]["saves"] >= 1 and ranks[1]["saves"] == 0
    with np.load(params) as saved:
        for name in saved.files:
            for res in ranks:
                np.testing.assert_array_equal(res[name], saved[name])
    for res in ranks:
        assert res["resumed_valid"] == res["trained_valid"]
        assert res["resumed_test"] == res["trained_test"]


def _nccl_unavailable(gpus: int) -> str | None:
    try:
        import cupy
        from cupy.cuda import nccl  # noqa: F401
        if cupy.cuda.runtime.getDeviceCount() < gpus:   # NCCL refuses two ranks on one GPU
            return f"needs {gpus} CUDA GPU(s) (NCCL rejects two ranks on one device)"
        if not getattr(cupy.cuda, "nccl_enabled", True):
            return "CuPy was built without NCCL"
    except Exception as err:  # noqa: BLE001  (any failure to reach a GPU means: skip)
        return f"CuPy/NCCL unavailable: {err}"
    return None


@pytest.mark.gpu
def test_two_ranks_reduce_cupy_arrays_through_nccl(tmp_path):
    reason = _nccl_unavailable(2)
    if reason:
        pytest.skip(reason)
    _check(_launch("nccl_step.py", str(tmp_path / "out"), flags="device=cuda,floatX=float64"))
    base = np.arange(6.0).reshape(2, 3)
    for r in range(2):
        res = json.loads((tmp_path / f"out.{r}.json").read_text())
        for label in ("plain", "overlap"):
            np.testing.assert_allclose(res[label][0], 3 * base)
            np.testing.assert_allclose(res[label][1], np.full(3, 1.5))


@pytest.mark.gpu
def test_nccl_transport_of_one_rank_reduces_in_place_on_the_stream():
    reason = _nccl_unavailable(1)
    if reason:
        pytest.skip(reason)
    import cupy
    mpi = pytest.importorskip("mpi4py.MPI", reason="mpi4py bootstraps NCCL")
    transport = distributed.comm.NcclTransport(mpi.COMM_SELF)
    for dtype in ("float32", "float64"):
        send = cupy.arange(7, dtype=dtype)
        recv = cupy.zeros_like(send)
        transport.allreduce(cupy, send, recv)
        cupy.cuda.get_current_stream().synchronize()
        np.testing.assert_array_equal(cupy.asnumpy(recv), np.arange(7, dtype=dtype))
    with pytest.raises(TypeError, match="NCCL cannot reduce dtype complex64"):
        transport.allreduce(cupy, cupy.zeros(2, "complex64"), cupy.zeros(2, "complex64"))
