"""Flags: defaults, SYMCONV_FLAGS and ~/.symconvrc parsing, validation, scoped overrides."""
import os
import subprocess
import sys

import pytest

import symconv
from symconv.config import Config


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
    with pytest.raises(ValueError, match="unknown symconv flag 'floatx'.*valid flags:.*floatX"):
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
