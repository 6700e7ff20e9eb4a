"""symconv-bench: subcommands, exit codes, the JSON record, peer notes, and that peers compute
the same numbers as symconv (so the timed comparison is like for like)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from symconv.bench import cli, models, suites

needs_conv = pytest.mark.skipif(not models.has_conv(), reason="conv2d/pool_2d not available")


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_names_every_suite(capsys):
    status, out, _ = run_cli(capsys, "list")
    assert status == 0
    for name in ("conv", "pool", "lenet-train", "lenet-infer", "mlp-train", "compile"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"], ["run", "--help"]])
def test_help_everywhere_exits_zero(capsys, argv):
    status, out, _ = run_cli(capsys, *argv)
    assert status == 0
    assert "usage: symconv-bench" in out


def test_run_tiny_suite_prints_table_and_progress(capsys):
    status, out, err = run_cli(capsys, "run", "mlp-train", "--batch", "4", "--repeat", "1")
    assert status == 0
    header, rule, row = out.splitlines()[:3]
    assert "median ms" in header and "images/s" in header and "GFLOP/s" in header
    assert set(rule) == {"-"}
    cells = row.split()
    assert cells[:4] == ["mlp-train", "mlp", "train", "step"] and cells[4] == "4"
    assert float(cells[5]) > 0
    assert "[1/1] mlp-train" in err  # progress goes to stderr, the table to stdout


def test_json_record_schema(capsys, tmp_path):
    path = tmp_path / "bench.json"
    status, _, _ = run_cli(capsys, "run", "mlp-train", "compile", "--batch", "3", "5",
                           "--repeat", "2", "--floatX", "float64", "--json", str(path))
    assert status == 0
    record = json.loads(path.read_text())
    assert record["schema"] == "symconv-bench/1"
    assert record["settings"]["floatX"] == "float64" and record["settings"]["repeat"] == 2
    env = record["environment"]
    for key in ("cpu", "threads", "gpu", "python", "versions"):
        assert key in env
    assert env["versions"]["numpy"] == np.__version__
    rows = record["results"]
    assert [r["batch"] for r in rows if r["suite"] == "mlp-train"] == [3, 5]
    compile_rows = [r for r in rows if r["suite"] == "compile"]
    assert compile_rows and all(r["batch"] is None for r in compile_rows)
    for row in rows:
        assert row["error"] is None
        fig = row["symconv"]
        assert fig["samples"] == 2 and 0 < fig["min_ms"] <= fig["median_ms"]
    step = rows[0]
    # images/s and GFLOP/s follow from the median time, the batch and the case's FLOP count.
    # (images/s is rounded to 0.1: on a loaded machine that is more than 1e-3 of ~20 images/s)
    assert step["symconv"]["images_per_s"] == pytest.approx(
        3 / (step["symconv"]["median_ms"] / 1e3), rel=1e-3, abs=0.05)
    assert step["gflop"] == pytest.approx(3 * 3 * suites.mlp_forward_flops() / 1e9, rel=1e-3)


@pytest.mark.parametrize("argv", [["run", "no-such-suite"], ["run", "mlp-train", "--compare",
                                                               "tensorflow"],
                                  ["run", "mlp-train", "--repeat", "0"], ["frobnicate"], []])
def test_usage_errors_exit_2(capsys, argv):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert "usage:" in err or "error" in err


def test_missing_peer_is_said_before_the_table_and_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(cli, "available", lambda name: False)
    status, out, err = run_cli(capsys, "run", "mlp-train", "--batch", "2", "--repeat", "1",
                               "--compare", "torch,jax")
    assert status == 1
    assert "peer torch cannot run: not importable (pip install torch --index-url" in err
    assert "peer jax cannot run: not importable" in err
    assert err.index("peer torch cannot run") < err.index("[1/1] mlp-train")  # before the work
    assert "torch ms" not in out and "mlp-train" in out  # symconv's own figures still shown


def test_table_shows_min_median_max_and_flags_unstable_ratios():
    from symconv.bench.measure import Timing, instability
    steady, noisy = Timing([1.0, 1.01, 0.99, 1.0, 1.02]), Timing([1.0, 1.5, 0.7, 1.3, 0.8])
    assert steady.spread < 0.05 and noisy.spread > 0.3
    assert "spread" in (instability(steady, noisy) or "")
    row = {"suite": "s", "case": "c", "batch": 2, "error": None,
           "symconv": {"median_ms": 1.0, "min_ms": 0.9, "max_ms": 1.4, "images_per_s": 2000.0,
                       "gflop_per_s": None},
           "peers": {"torch": {"median_ms": 2.0, "ratio": 0.5, "unstable": "spread 40%"}}}
    table = cli.format_table([row], ["torch"])
    assert "max ms" in table.splitlines()[0] and " 1.400 " in table
    assert "0.50?" in table and "? = unstable" in table
    row["peers"]["torch"]["unstable"] = None
    assert "?" not in cli.format_table([row], ["torch"])


def test_unavailable_suite_says_why_and_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(cli, "missing_requirement",
                        lambda suite: "needs conv2d" if suite.name == "conv" else None)
    status, out, err = run_cli(capsys, "run", "conv", "mlp-train", "--batch", "2",
                               "--repeat", "1")
    assert status == 1
    assert "suite conv skipped: it needs conv2d" in err
    assert "mlp-train" in out  # the other suite still ran


def test_failing_case_is_reported_and_exits_1(capsys, monkeypatch):
    def broken(case):
        def build():
            raise RuntimeError("kernel exploded")
        return build
    monkeypatch.setattr(suites, "_model_builder", broken)
    status, out, err = run_cli(capsys, "run", "mlp-train", "--batch", "2", "--repeat", "1")
    assert status == 1
    assert "error: RuntimeError: kernel exploded" in out
    assert "failed: RuntimeError" in err


def test_cuda_without_gpu_is_a_usage_error(capsys):
    if cli._check_device("cuda") is None:
        pytest.skip("a CUDA device is available here")
    status, _, err = run_cli(capsys, "run", "mlp-train", "--device", "cuda")
    assert status == 2
    assert "device 'cuda' is not available" in err


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "symconv.bench", "list"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and "lenet-train" in proc.stdout


def _peer_or_skip(name: str):
    from symconv.bench.peers import available, make_peer
    if not available(name):
        pytest.skip(f"{name} not installed")
    return make_peer(name, "cpu")


def _outputs_agree(case: suites.Case, peer) -> None:
    ours = np.asarray(case.build()())
    theirs = np.asarray(peer.build(case)())
    if case.spec.get("direction") == "grad_weights":
        theirs = theirs[:, :, ::-1, ::-1]  # the peer's filters are ours flipped, so is the grad
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)


@needs_conv
@pytest.mark.parametrize("peer_name", ["torch", "jax"])
@pytest.mark.parametrize("suite", ["conv", "pool"])
def test_peer_computes_what_symconv_computes(suite, peer_name):
    import symconv
    peer = _peer_or_skip(peer_name)
    with symconv.config.change_flags(floatX="float64"):
        cases = suites.SUITES[suite].expand(2, "float64", np.random.default_rng(0))
        for case in cases:
            if "vgg" in case.name or "cnn" in case.name:
                continue  # same code paths as the smaller shapes; keep the test fast
            _outputs_agree(case, peer)


@needs_conv
@pytest.mark.parametrize("peer_name", ["torch", "jax"])
def test_peer_lenet_step_matches_symconv(peer_name):
    import symconv
    peer = _peer_or_skip(peer_name)
    with symconv.config.change_flags(floatX="float64"):
        (case,) = suites.SUITES["lenet-train"].expand(4, "float64", np.random.default_rng(1))
        ours, theirs = case.build(), peer.build(case)
        # Three steps: identical losses mean identical forward passes and updates.
        for _ in range(3):
            np.testing.assert_allclose(float(ours()), float(theirs()), rtol=1e-9)


def test_interleaved_takes_repeat_samples_in_alternating_blocks():
    from symconv.bench import measure
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("a", "b")}
    timings = measure.interleaved(fns, repeat=4, warmup=1, blocks=2, pause=0)
    assert [len(timings[n].samples) for n in "ab"] == [4, 4]
    assert all(t.min_ms <= t.median_ms for t in timings.values())
    # Warm-up (a, b), auto-ranging (a, b), block 1 (a, b), block 2 rotated (b, a): the two
    # b blocks in the middle run back to back.
    runs = [calls[0]]
    for name in calls[1:]:
        if name != runs[-1]:
            runs.append(name)
    assert runs == ["a", "b", "a", "b", "a", "b", "a"]
