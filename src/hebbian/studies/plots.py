"""The report's figures (matplotlib, Agg canvas, PNG): per-condition estimates and paired differences.

One pair of figures per outcome metric: each condition's rate or mean with
its 95% CI, coloured by role; and each hypothesis's mean paired difference
a - b with its bootstrap CI, against zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hebbian.stats import EffectSize
from hebbian.studies.analysis import Summary

ROLE_COLOURS = {
    "positive_control": "tab:green",
    "negative_control": "tab:red",
    "baseline": "tab:gray",
    "treatment": "tab:blue",
}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def conditions_figure(summaries: Sequence[Summary], metric: str, binary: bool, path: Path) -> Path:
    """Each condition's rate (binary) or mean on ``metric`` with its 95% CI."""
    fig = Figure(figsize=(1.2 + 1.1 * len(summaries), 3.6))
    ax = fig.add_subplot()
    for x, s in enumerate(summaries):
        if s.mean is None:
            continue
        low, high = s.ci if s.ci else (s.mean, s.mean)
        ax.errorbar(
            x,
            s.mean,
            yerr=[[s.mean - low], [high - s.mean]],
            fmt="o",
            capsize=5,
            color=ROLE_COLOURS.get(s.role, "black"),
        )
    ax.set_xticks(range(len(summaries)), [s.condition for s in summaries], rotation=20, ha="right")
    ax.set_ylabel(f"{metric} rate" if binary else f"mean {metric}")
    if binary:
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{metric} by condition (95% CI; colour = role)", fontsize=10)
    return _save(fig, path)


def differences_figure(
    labels: Sequence[str], differences: Sequence[EffectSize | None], metric: str, path: Path
) -> Path:
    """Each hypothesis's mean paired difference a - b on ``metric`` with its bootstrap CI."""
    fig = Figure(figsize=(6.5, 1.5 + 0.5 * len(labels)))
    ax = fig.add_subplot()
    for y, d in enumerate(differences):
        if d is not None:
            ax.errorbar(
                d.value,
                y,
                xerr=[[d.value - d.ci_low], [d.ci_high - d.value]],
                fmt="o",
                capsize=5,
                color="tab:blue",
            )
    ax.axvline(0, color="gray", lw=1, ls="--")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(f"{metric}: mean of a - b (95% bootstrap CI)")
    return _save(fig, path)
