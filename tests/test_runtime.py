"""The BLAS fix and backend detection."""

import os
import subprocess
import sys

import pytest

from hebbian import runtime

PROBE = "import mlx.core; from hebbian.runtime import blas_in_use; print(blas_in_use())"


def _clean_env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_PRELOAD", runtime.REEXEC_FLAG, runtime.OPT_OUT, runtime.WARNED_FLAG)
    }
    return {**env, **extra}


@pytest.fixture
def openblas():
    path = runtime.find_openblas()
    if path is None:
        pytest.fail("no system OpenBLAS: `make setup` as root installs libopenblas0-pthread")
    return path


def test_fast_blas_env_preloads_once(openblas):
    env = runtime.fast_blas_env(_clean_env(LD_PRELOAD="/other.so"))
    assert env["LD_PRELOAD"] == f"{openblas}:/other.so"
    assert env[runtime.REEXEC_FLAG] == "1"
    assert runtime.fast_blas_env(env) is None  # the re-executed child never loops
    assert runtime.fast_blas_env(_clean_env(LD_PRELOAD=openblas)) is None
    assert runtime.fast_blas_env(_clean_env(**{runtime.OPT_OUT: "1"})) is None


def test_preload_switches_mlx_to_openblas(openblas):
    def blas(env):
        return subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert blas(_clean_env()).startswith("reference BLAS")
    assert blas(_clean_env(LD_PRELOAD=openblas)).startswith("OpenBLAS")


def test_cli_reexecutes_itself_with_openblas(openblas):
    out = subprocess.run(
        [sys.executable, "-m", "hebbian", "doctor", "--quick"],
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "OpenBLAS" in out.stdout


def test_opting_out_warns_in_doctor_but_does_not_fail(openblas):
    out = subprocess.run(
        [sys.executable, "-m", "hebbian", "doctor", "--quick"],
        env=_clean_env(**{runtime.OPT_OUT: "1"}),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "warn" in out.stdout and "reference BLAS" in out.stdout


def test_no_openblas_warns_once(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "find_openblas", lambda: None)
    for key in (runtime.WARNED_FLAG, runtime.OPT_OUT, runtime.REEXEC_FLAG):
        monkeypatch.delenv(key, raising=False)
    runtime.ensure_fast_blas()
    runtime.ensure_fast_blas()
    assert capsys.readouterr().err.count("no OpenBLAS found") == 1


def test_backend_and_matmul_measurement():
    assert runtime.backend() in ("cpu", "metal", "cuda", "gpu")
    assert runtime.matmul_gflops("mlx", n=128, repeats=2) > 0
    assert runtime.matmul_gflops("numpy", n=128, repeats=2) > 0
    with pytest.raises(ValueError, match="'mlx' or 'numpy'"):
        runtime.matmul_gflops("torch")
