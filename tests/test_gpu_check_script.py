"""benchmarks/gpu_check.sh on a machine without a usable GPU: it must stop at once, with a
clear message and its own exit status, before any stage runs."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _gpu_usable() -> bool:
    try:
        from symconv.backends.cupy import DeviceUnavailableError, load_cupy
    except ImportError:
        return False
    try:
        load_cupy("cuda")
    except DeviceUnavailableError:
        return False
    return True


def run(args: list[str], path_dirs: list[Path], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable,
               PATH=os.pathsep.join([str(d) for d in path_dirs] + ["/usr/bin", "/bin"]))
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_without_an_output_directory_it_prints_its_usage(tmp_path):
    done = run([], [], tmp_path)
    assert done.returncode == 2
    assert "usage: bash benchmarks/gpu_check.sh OUTDIR" in done.stderr


def test_without_a_driver_it_stops_before_any_stage(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    out = tmp_path / "out"
    done = run([str(out)], [], tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "nvidia-smi not found" in done.stdout
    assert "nvidia-smi not found" in (out / "summary.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["summary.txt"]


def test_without_cupy_or_a_gpu_it_names_the_missing_piece(tmp_path):
    if _gpu_usable():
        pytest.skip("device=cuda works here: the script would run every stage")
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"   # a driver that answers, so the CuPy probe is what fails
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI (fake)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "out"
    done = run([str(out)], [fake], tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "device=cuda is not usable here: DeviceUnavailableError: device=cuda" in summary
    assert "CuPy" in summary   # which piece is missing: CuPy itself, or CuPy's GPU/driver
    assert sorted(p.name for p in out.iterdir()) == ["summary.txt"]


def test_a_failing_stage_is_named_in_the_summary_and_fails_the_run(tmp_path):
    # a CuPy that reports one GPU and can do nothing else: the probe passes, stages fail
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI (fake)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    site = tmp_path / "site" / "cupy"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text(
        "from types import SimpleNamespace\n__version__ = '0.fake'\n"
        "runtime = SimpleNamespace(getDeviceCount=lambda: 1,\n"
        "                          getDeviceProperties=lambda i: {'name': b'Fake GPU'})\n"
        "cuda = SimpleNamespace(runtime=runtime)\n")
    out = tmp_path / "out"
    env = dict(os.environ, GPU_CHECK_STAGES="bogus lenet", PYTHON=sys.executable,
               PYTHONPATH=str(site.parent), PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    summary = (out / "summary.txt").read_text()
    assert done.returncode == 1, summary
    assert "device: Fake GPU, CuPy 0.fake" in summary
    assert "unknown stage 'bogus'" in summary
    assert "lenet_gpu: FAILED" in summary
    assert "some stage FAILED" in summary
    assert {"summary.txt", "env.txt", "lenet_gpu.log"} <= {p.name for p in out.iterdir()}
