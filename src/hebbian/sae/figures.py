"""PNG figures for the SAE reports, drawn with the shared :mod:`hebbian.plots` helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import figure, save
from .episodes import CHAOTIC, EMOTIONAL, ROUTINE
from .synthetic import Run, SyntheticConfig, find, table

DPI = 80
TYPES = (EMOTIONAL, CHAOTIC, ROUTINE)


def _save(fig, path: Path) -> Path:
    return save(fig, path, dpi=DPI)


def reconstructions(runs: list[Run], name: str, path: Path) -> Path:
    """Original (noisy), clean signal and reconstruction of one episode of each type."""
    run = find(runs, name)
    fig, axes = figure(1, 3, figsize=(11, 2.8), sharey=True)
    for ax, label in zip(axes, TYPES):
        i = run.episodes.index(label)[0]
        ax.plot(run.episodes.x[i], color="0.7", lw=1, label="input (noisy)")
        if run.episodes.clean is not None:
            ax.plot(run.episodes.clean[i], color="k", lw=1, ls="--", label="clean signal")
        ax.plot(run.recon[i], color="C3", lw=1, label="reconstruction")
        ax.set_title(f"{label} (episode {i})")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{name}, seed 0", fontsize=9)
    return _save(fig, path)


def traces(runs: list[Run], names: list[str], path: Path) -> Path:
    """Heatmaps of the memory traces (episodes x latents) of several conditions, seed 0."""
    fig, axes = figure(1, len(names), figsize=(3.2 * len(names), 2.8))
    for ax, name in zip(np.atleast_1d(axes), names):
        run = find(runs, name)
        ax.imshow(run.traces, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.set_yticks(
            range(len(run.episodes.labels)), [lab[:4] for lab in run.episodes.labels], fontsize=6
        )
        ax.set_xlabel("latent", fontsize=7)
    return _save(fig, path)


def beta_sweep(runs: list[Run], config: SyntheticConfig, path: Path) -> Path:
    """Active latents per event type against beta, weighted (solid) vs uniform (dashed), mean +- SE."""
    fig, axes = figure(1, 2, figsize=(10, 3.2), sharey=True)
    for ax, tag in zip(axes, ("l1", "l1_plain")):
        for color, label in zip(("C3", "C1", "C0"), TYPES):
            for weights, style in (("weighted", "-"), ("uniform", "--")):
                vals = np.stack(
                    [
                        table(runs, f"p5/{tag}/{b:g}/{weights}", f"active_{label}")
                        for b in config.betas
                    ]
                )
                se = vals.std(axis=1, ddof=1) / np.sqrt(vals.shape[1])
                ax.errorbar(
                    config.betas,
                    vals.mean(axis=1),
                    yerr=se,
                    color=color,
                    ls=style,
                    marker="o",
                    ms=3,
                    label=f"{label}, {weights}",
                )
        ax.set_xscale("log")
        ax.set_xlabel("beta (L1 coefficient)")
        ax.set_title(
            {"l1": "L1 scaled by decoder norms", "l1_plain": "plain L1 (the seed's)"}[tag],
            fontsize=9,
        )
    axes[0].set_ylabel(f"active latents (of {config.latents})")
    axes[1].legend(fontsize=6)
    return _save(fig, path)


def loss_curves(
    histories: dict[str, dict[str, list[float]]], path: Path, keys=("loss", "l0")
) -> Path:
    """Training curves (one line per run) for each history key."""
    fig, axes = figure(1, len(keys), figsize=(5 * len(keys), 3))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for name, hist in histories.items():
            ax.plot(hist["step"], hist[key], label=name, lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        if key == "loss":
            ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _save(fig, path)


def importance(
    position: np.ndarray,
    received: np.ndarray,
    ratio: np.ndarray,
    thresholds: tuple[float, float],
    path: Path,
) -> Path:
    """Mean attention received and importance by position; importance histogram with group cut-offs."""
    fig, axes = figure(1, 2, figsize=(10, 3))
    pos = np.unique(position)
    axes[0].plot(
        pos, [received[position == p].mean() for p in pos], label="attention received (column sum)"
    )
    axes[0].plot(
        pos,
        [
            np.nanmean(ratio[position == p]) if np.isfinite(ratio[position == p]).any() else np.nan
            for p in pos
        ],
        label="importance (fixed horizon, / position mean)",
    )
    axes[0].set_yscale("log")
    axes[0].set_xlabel("position in context")
    axes[0].legend(fontsize=7)
    axes[1].hist(np.log10(ratio[np.isfinite(ratio)]), bins=60, color="0.5")
    for thr, name, height in zip(thresholds, ("important >=", "routine <="), (0.9, 0.75)):
        axes[1].axvline(np.log10(thr), color="C3", ls="--")
        axes[1].text(
            np.log10(thr), axes[1].get_ylim()[1] * height, f" {name} {thr:.2f}", fontsize=7
        )
    axes[1].set_xlabel("log10 importance")
    return _save(fig, path)


def group_means(per_context: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """Per-context means of each metric for (SAE, token group) pairs, one panel per metric."""
    metrics = list(next(iter(per_context.values())))
    fig, axes = figure(1, len(metrics), figsize=(5 * len(metrics), 3))
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        names = list(per_context)
        data = [per_context[n][metric] for n in names]
        ax.boxplot(data, showfliers=False)
        for i, vals in enumerate(data, start=1):
            ax.plot(
                np.full(len(vals), i) + np.linspace(-0.1, 0.1, len(vals)),
                vals,
                ".",
                color="C0",
                ms=3,
            )
        ax.set_xticks(range(1, len(names) + 1), names, fontsize=7, rotation=15)
        ax.set_ylabel(f"{metric} (per-context mean)")
    return _save(fig, path)
