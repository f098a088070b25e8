"""Figures for the research modules: matplotlib on the non-interactive Agg backend, saved small."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def figure(*args, **kwargs):
    """``plt.subplots`` on the Agg backend: (figure, axes)."""
    return plt.subplots(*args, **kwargs)


def save(fig, path: str | Path, dpi: int = 90) -> Path:
    """Write ``fig`` as a PNG at a modest resolution, close it, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
