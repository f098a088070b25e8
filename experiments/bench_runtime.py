"""Runtime benchmark: same as `hebbian bench runtime` (kept here beside the other experiments)."""

from hebbian.cli import app
from hebbian.runtime import ensure_fast_blas

if __name__ == "__main__":
    ensure_fast_blas()
    app(["bench", "runtime"])
