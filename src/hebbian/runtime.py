"""Where MLX runs and how fast: backend detection and the Linux BLAS fix.

The `mlx[cpu]` wheel on Linux links the netlib reference BLAS, which runs a float32
matmul about 30x slower than numpy's OpenBLAS on the same cores. Preloading a system
OpenBLAS (Debian's `libopenblas0-pthread`) makes MLX's `sgemm` calls resolve to it. The
CLI calls `ensure_fast_blas()` first thing: when an OpenBLAS is installed and not yet
loaded, it re-executes the same command once with `LD_PRELOAD` set (an environment flag
guards against loops); when none is installed it warns once and carries on.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import time

REEXEC_FLAG = "HEBBIAN_BLAS_REEXEC"  # set in the re-executed child
OPT_OUT = "HEBBIAN_NO_BLAS_FIX"  # set to 1 to run with whatever BLAS the wheel links
WARNED_FLAG = "HEBBIAN_BLAS_WARNED"
OPENBLAS_GLOBS = (
    "/usr/lib/*-linux-gnu/libopenblas.so.0",
    "/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)


def backend() -> str:
    """'metal', 'cuda' or 'cpu': where MLX's default device computes."""
    import mlx.core as mx

    if mx.default_device() == mx.cpu:
        return "cpu"
    if mx.metal.is_available():
        return "metal"
    return "cuda" if getattr(mx, "cuda", None) and mx.cuda.is_available() else "gpu"


def find_openblas() -> str | None:
    """Path of an installed system OpenBLAS, or None."""
    for pattern in OPENBLAS_GLOBS:
        for path in sorted(glob.glob(pattern)):
            if os.path.exists(path):
                return path
    return None


def loaded_blas_libraries() -> list[str]:
    """BLAS/LAPACK shared objects mapped into this process (Linux), in load order."""
    try:
        maps = open("/proc/self/maps").read()
    except OSError:
        return []
    seen = []
    for path in re.findall(r"(/\S*(?:blas|lapack|mkl)\S*\.so[.\d]*)", maps):
        if path not in seen:
            seen.append(path)
    return seen


def _global_symbol_library(symbol: str) -> str | None:
    """The shared object that the process-wide symbol scope resolves `symbol` to."""
    import ctypes

    class DlInfo(ctypes.Structure):
        _fields_ = [
            ("fname", ctypes.c_char_p),
            ("fbase", ctypes.c_void_p),
            ("sname", ctypes.c_char_p),
            ("saddr", ctypes.c_void_p),
        ]

    try:
        address = ctypes.cast(getattr(ctypes.CDLL(None), symbol), ctypes.c_void_p)
    except AttributeError:
        return None
    info = DlInfo()
    libc = ctypes.CDLL(None)
    if not libc.dladdr(address, ctypes.byref(info)) or not info.fname:
        return None
    return os.path.realpath(info.fname.decode())


def blas_in_use() -> str:
    """A one-line description of the BLAS that MLX's float32 matmul calls (import mlx first)."""
    if sys.platform == "darwin":
        return "Accelerate (macOS)"
    # A preloaded library sits in the global scope, which every later library's lookups
    # search first; without one, MLX resolves sgemm to the BLAS it ships.
    path = _global_symbol_library("cblas_sgemm")
    if path is None:
        shipped = [
            p for p in loaded_blas_libraries() if "mlx" in p and "blas" in os.path.basename(p)
        ]
        path = shipped[0] if shipped else None
    if path is None:
        return "unknown (import mlx first)"
    name = os.path.basename(path)
    if "openblas" in name:
        return f"OpenBLAS ({path})"
    if "mkl" in name:
        return f"MKL ({path})"
    return f"reference BLAS, slow ({path})"


def fast_blas_env(env: dict[str, str]) -> dict[str, str] | None:
    """`env` plus the OpenBLAS preload when one is needed and available, else None."""
    if sys.platform != "linux" or env.get(OPT_OUT) == "1" or env.get(REEXEC_FLAG):
        return None
    path = find_openblas()
    if path is None or path in env.get("LD_PRELOAD", ""):
        return None
    preload = ":".join(p for p in (path, env.get("LD_PRELOAD", "")) if p)
    return {**env, "LD_PRELOAD": preload, REEXEC_FLAG: "1"}


def ensure_fast_blas() -> None:
    """Re-execute this process once with OpenBLAS preloaded, or warn once if there is none."""
    env = fast_blas_env(dict(os.environ))
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    if (
        sys.platform == "linux"
        and find_openblas() is None
        and not os.environ.get(WARNED_FLAG)
        and os.environ.get(OPT_OUT) != "1"
    ):
        os.environ[WARNED_FLAG] = "1"
        print(
            "warning: no OpenBLAS found, so MLX uses its bundled reference BLAS and float32 "
            "matmul runs ~30x slower. Install it with `apt-get install libopenblas0-pthread` "
            "(or run `make setup` as root).",
            file=sys.stderr,
        )


def matmul_gflops(library: str = "mlx", n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 n x n matmul throughput of `library` ('mlx' or 'numpy')."""
    if library == "mlx":
        import mlx.core as mx

        a, b = mx.random.normal((n, n)), mx.random.normal((n, n))
        run = lambda: mx.eval(a @ b)  # noqa: E731
    elif library == "numpy":
        import numpy as np

        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        run = lambda: a @ b  # noqa: E731
    else:
        raise ValueError(f"library must be 'mlx' or 'numpy', not {library!r}")
    run()  # warm-up: thread pools, lazy graph compilation
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main(argv: list[str] | None = None) -> None:
    """`python -m hebbian.runtime CMD...`: run CMD with the BLAS fix (used by `make test`)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m hebbian.runtime COMMAND [ARGS...]")
    env = fast_blas_env(dict(os.environ)) or dict(os.environ)
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
