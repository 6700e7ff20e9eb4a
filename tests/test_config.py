"""Flags: defaults, SYMCONV_FLAGS and ~/.symconvrc parsing, validation, scoped overrides."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import symconv
import symconv.tensor as T
from symconv.config import Config, Float64Error, Float64Warning, TheanoFlagWarning


def test_defaults_like_theano():
    assert symconv.config.floatX == "float64"
    assert symconv.config.device == "cpu"
    assert symconv.config.mode == "FAST_RUN"


def test_env_and_rc_file(tmp_path, monkeypatch):
    rc = tmp_path / "rc"
    rc.write_text("[global]\nfloatX = float32\ndevice = cpu\n")
    monkeypatch.setenv("SYMCONVRC", str(rc))
    monkeypatch.setenv("SYMCONV_FLAGS", "mode=FAST_COMPILE")
    cfg = Config()
    assert cfg.floatX == "float32" and cfg.mode == "FAST_COMPILE"
    monkeypatch.setenv("SYMCONV_FLAGS", "floatX=float64")
    assert Config().floatX == "float64"   # the environment wins over the rc file


def test_unknown_flag_and_bad_value_list_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SYMCONV_FLAGS", "floatx=float32")
    with pytest.raises(ValueError, match="unknown flag 'floatx' in SYMCONV_FLAGS "
                       r"\(did you mean 'floatX'\?\); valid flags:.*floatX"):
        Config()
    monkeypatch.setenv("SYMCONV_FLAGS", "floatX=float31")
    with pytest.raises(ValueError, match="bad value 'float31'.*valid values: float64, float32"):
        Config()
    monkeypatch.setenv("SYMCONV_FLAGS", "device=gpu")
    with pytest.raises(ValueError, match="cpu, cuda, cudaN"):
        Config()
    with pytest.raises(AttributeError, match="no flag 'nope'"):
        symconv.config.nope


def test_set_in_code_and_scoped_override():
    with symconv.config.change_flags(floatX="float32"):
        assert symconv.config.floatX == "float32"
        assert symconv.tensor.matrix().dtype == "float32"
    assert symconv.config.floatX == "float64"
    with pytest.raises(ValueError):
        symconv.config.floatX = "int8"


def test_flags_reach_a_fresh_process():
    env = dict(os.environ, SYMCONV_FLAGS="floatX=float32,device=cpu")
    out = subprocess.run([sys.executable, "-c", "import symconv, symconv.tensor as T;"
                          "print(symconv.config.floatX, T.matrix().dtype)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["float32", "float32"]


def test_cuda_without_cupy_is_one_clear_error():
    pytest.importorskip("symconv.backends.cupy")
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: the error path cannot be exercised")
    except ImportError:
        pass
    with symconv.config.change_flags(device="cuda"):
        x = symconv.tensor.vector()
        with pytest.raises(RuntimeError, match="CuPy"):
            symconv.function([x], x * 2)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("SYMCONV_FLAGS", "SYMCONVRC")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


def test_typo_is_one_line_naming_the_source_and_bench_list_still_works(tmp_path):
    done = _run("import symconv.tensor as T; T.matrix()", SYMCONV_FLAGS="floatx=float32")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # no traceback
    assert "unknown flag 'floatx' in SYMCONV_FLAGS (did you mean 'floatX'?)" in done.stderr
    rc = tmp_path / "rc"
    rc.write_text("[global]\nflaotX = float32\n")
    done = _run("import symconv; print(symconv.config.floatX)", SYMCONVRC=str(rc))
    assert done.returncode == 1 and f"in rc file {rc} (did you mean 'floatX'?)" in done.stderr
    listed = _run("import sys; from symconv.bench.cli import main; sys.exit(main(['list']))",
                  SYMCONV_FLAGS="floatx=float32")
    assert listed.returncode == 0 and "lenet-train" in listed.stdout
    assert "floatx" in listed.stderr  # and the problem is still mentioned


def test_theano_only_flags_are_accepted_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCONV_FLAGS", "exception_verbosity=high,compiledir=/tmp/x,openmp=True,"
                       "cxx=,warn.round=False,floatX=float32")
    rc = tmp_path / "rc"
    rc.write_text("[nvcc]\nfastmath = True\n[dnn]\nenabled = False\n[lib]\ncnmem = 0.8\n")
    monkeypatch.setenv("SYMCONVRC", str(rc))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = Config()
    assert cfg.floatX == "float32"
    messages = [str(w.message) for w in caught if w.category is TheanoFlagWarning]
    assert len(messages) == 2  # one per source: the rc file and the environment variable
    assert "nvcc.fastmath, dnn.enabled, lib.cnmem" in messages[0]
    assert "exception_verbosity, compiledir, openmp, cxx, warn.round" in messages[1]
    assert set(cfg.ignored) >= {"exception_verbosity", "nvcc.fastmath", "warn.round"}


def test_rc_without_section_header_and_inline_comments(tmp_path, monkeypatch):
    rc = tmp_path / "rc"
    rc.write_text("floatX = float32   ; the fast one\n# a comment line\n"
                  "mode = FAST_COMPILE # also a comment\n")
    monkeypatch.setenv("SYMCONVRC", str(rc))
    monkeypatch.delenv("SYMCONV_FLAGS", raising=False)
    cfg = Config()
    assert cfg.floatX == "float32" and cfg.mode == "FAST_COMPILE"
    rc.write_text("[global\nfloatX = float32\n")
    with pytest.raises(ValueError, match=f"cannot read rc file {rc}"):
        Config()


def test_warn_float64_acts_on_symbolic_variables_only():
    with symconv.config.change_flags(warn_float64="raise"):
        with pytest.raises(Float64Error, match="float64 variable.*test_config.py"):
            T.matrix("x")
        T.constant(np.zeros(3))             # constants and shared variables are exempt,
        symconv.shared(np.zeros(3))         # as in Theano
        T.matrix("y", dtype="float32") * 2  # float32 graphs create no float64
    with symconv.config.change_flags(warn_float64="warn"), pytest.warns(Float64Warning) as rec:
        T.vector("v")
    assert rec[0].filename == __file__  # pointed at the user's line
    with pytest.raises(ValueError, match="ignore, warn, raise, pdb"):
        symconv.config.warn_float64 = "loud"


def test_profile_true_prints_at_exit_only_functions_that_ran():
    done = _run("import numpy as np, symconv, symconv.tensor as T\n"
                "x = T.vector('x')\n"
                "f = symconv.function([x], T.exp(x).sum(), profile=True)\n"
                "g = symconv.function([x], T.tanh(x).sum(), profile=True)\n"
                "f(np.ones(3))\n")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Profile of") == 1 and "exp" in done.stderr
    assert "tanh" not in done.stderr
