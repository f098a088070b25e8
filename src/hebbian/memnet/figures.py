"""The report's figures, drawn from stored per-seed results (lists of seed dicts) into small PNGs.

Lines are means over seeds; shaded bands are 95% t-intervals across seeds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

DPI = 90
ROLE_LETTERS = {0: ".", 1: "K", 2: "V", 3: "k", 4: "v", 5: "M", 6: "Q", 7: "q"}


def mean_and_band(
    rows: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (seeds) and its t-interval; NaNs are ignored, one seed gives no band."""
    rows = np.asarray(rows, dtype=float)
    n = np.sum(~np.isnan(rows), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # columns without data are NaN by design
        mean = np.nanmean(rows, axis=0)
        half = (
            stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
            * np.nanstd(rows, axis=0, ddof=1)
            / np.sqrt(n)
        )
    half = np.where(n > 1, half, 0.0)
    return mean, mean - half, mean + half


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _band(ax, x, rows, label):
    mean, low, high = mean_and_band(rows)
    ax.plot(x, mean, label=label, lw=1.5)
    ax.fill_between(x, low, high, alpha=0.12)


def accuracy_vs_distance(
    seeds: list[dict], variants: list[str], path: Path, bin_width: int = 2
) -> Path:
    """Recall accuracy against distance (binned) per variant, with the controller's reach marked.

    Bins are aligned so that one ends exactly at the reach: no bin mixes items the
    controller can see with items it cannot.
    """
    reach, chance = seeds[0]["receptive_field"], seeds[0]["chance"]
    longest = max(
        max(s["variants"][v]["metrics"]["by_distance"]["distance"]) for s in seeds for v in variants
    )
    first = reach + 1 - (reach // bin_width) * bin_width
    edges = np.unique(np.concatenate([[1], np.arange(first, longest + bin_width + 1, bin_width)]))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for variant in variants:
        rows = []
        for s in seeds:
            table = s["variants"][variant]["metrics"]["by_distance"]
            d, n, c = (np.asarray(table[k]) for k in ("distance", "n", "correct"))
            which = np.digitize(d, edges) - 1
            n_bin = np.bincount(which, n, len(edges) - 1)
            c_bin = np.bincount(which, c, len(edges) - 1)
            rows.append(np.where(n_bin > 0, c_bin / np.maximum(n_bin, 1), np.nan))
        _band(ax, (edges[:-1] + edges[1:] - 1) / 2, rows, variant)
    ax.axvline(reach + 0.5, color="k", ls="--", lw=1, label=f"controller reach ({reach})")
    ax.axhline(chance, color="gray", ls=":", lw=1, label="chance")
    ax.set(xlabel="distance from value to query (tokens)", ylabel="accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def metric_by_variant(
    seeds: list[dict], variants: list[str], metric: str, label: str, path: Path
) -> Path:
    """One metric per variant: seeds as dots, their mean as a bar."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for i, variant in enumerate(variants):
        values = [s["variants"][variant]["metrics"][metric] for s in seeds]
        ax.bar(i, np.mean(values), color="C0", alpha=0.35)
        ax.plot(
            np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)),
            values,
            "o",
            color="C0",
            ms=4,
        )
    ax.set_xticks(range(len(variants)), variants, rotation=20, fontsize=8)
    ax.set_ylabel(label)
    return _save(fig, path)


def loss_curves(seeds: list[dict], variants: list[str], steps_per_point: int, path: Path) -> Path:
    """Training loss per variant (block means)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for variant in variants:
        rows = [s["variants"][variant]["loss"] for s in seeds]
        _band(ax, (np.arange(len(rows[0])) + 1) * steps_per_point, rows, variant)
    ax.set(xlabel="training step", ylabel="training loss (composite for MemNet)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def forgetting_curves(seeds: list[dict], variants: list[str], path: Path) -> Path:
    """Accuracy on every task throughout sequential training, one panel per task."""
    settings = seeds[0]["settings"]
    n_tasks, per_task = settings["n_tasks"], settings["steps"] // settings["n_tasks"]
    fig, axes = plt.subplots(1, n_tasks, figsize=(3.2 * n_tasks, 3.2), sharey=True)
    for task, ax in enumerate(np.atleast_1d(axes)):
        for variant in variants:
            curves = [s["variants"][variant]["curve"] for s in seeds]
            rows = [np.asarray(c["accuracy"])[:, task] for c in curves]
            _band(ax, curves[0]["step"], rows, variant)
        for boundary in range(1, n_tasks):
            ax.axvline(boundary * per_task, color="k", lw=0.8, ls="--")
        ax.axhline(seeds[0]["chance"], color="gray", ls=":", lw=1)
        ax.set(title=f"task {task + 1}", xlabel="training step", ylim=(0, 1.02))
    np.atleast_1d(axes)[0].set_ylabel("accuracy")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    return _save(fig, path)


def survival_curves(seeds: list[dict], variants: list[str], path: Path) -> Path:
    """Share of a write still in memory after a delay, by the role of the written token."""
    fig, axes = plt.subplots(1, len(variants), figsize=(3.2 * len(variants), 3.2), sharey=True)
    for variant, ax in zip(variants, np.atleast_1d(axes)):
        roles = seeds[0]["variants"][variant]["dynamics"]["survival"]
        for role in roles:
            rows = [s["variants"][variant]["dynamics"]["survival"][role] for s in seeds]
            _band(ax, np.arange(len(rows[0])), rows, role)
        ax.set(title=variant, xlabel="steps since the write", ylim=(0, 1.02))
    np.atleast_1d(axes)[0].set_ylabel("share still held")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _save(fig, path)


def write_mass_by_role(
    seeds: list[dict], variants: list[str], role_names: tuple[str, ...], path: Path
) -> Path:
    """Mean write mass at each token role, per MemNet variant (write frequency)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    shown = [
        i
        for i, _ in enumerate(role_names)
        if not np.isnan(seeds[0]["variants"][variants[0]]["memory"]["write_mass_by_role"][i])
    ]
    width = 0.8 / len(variants)
    for j, variant in enumerate(variants):
        rows = np.array(
            [
                [s["variants"][variant]["memory"]["write_mass_by_role"][i] for i in shown]
                for s in seeds
            ]
        )
        ax.bar(np.arange(len(shown)) + j * width, np.nanmean(rows, axis=0), width, label=variant)
    ax.set_xticks(
        np.arange(len(shown)) + width * (len(variants) - 1) / 2,
        [role_names[i] for i in shown],
        fontsize=8,
        rotation=15,
    )
    ax.set_ylabel("write mass per token")
    ax.legend(fontsize=7)
    return _save(fig, path)


def lifetimes_and_entropy(seeds: list[dict], variants: list[str], path: Path) -> Path:
    """Left: slot lifetimes (steps per full overwrite, sorted). Right: read entropy by step."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    for variant in variants:
        rows = [np.sort(s["variants"][variant]["dynamics"]["slot_lifetimes"])[::-1] for s in seeds]
        _band(left, np.arange(len(rows[0])), rows, variant)
        rows = [s["variants"][variant]["dynamics"]["read_entropy_by_step"] for s in seeds]
        _band(right, np.arange(len(rows[0])), rows, variant)
    left.set(xlabel="slot (sorted by lifetime)", ylabel="steps per full overwrite", yscale="log")
    right.set(xlabel="step", ylabel="read entropy (nats)")
    right.legend(fontsize=7)
    return _save(fig, path)


def memory_heatmap(example: dict, path: Path) -> Path:
    """One sequence: write weights and read weights per step and slot, and the final graph."""
    labels = [f"{ROLE_LETTERS[r]}{t}" for r, t in zip(example["roles"], example["tokens"])]
    fig, axes = plt.subplots(1, 3, figsize=(9, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for ax, key, title in (
        (axes[0], "write_weights", "writes (omega)"),
        (axes[1], "read_weights", "reads"),
    ):
        image = ax.imshow(np.asarray(example[key]), aspect="auto", cmap="viridis", vmin=0)
        ax.set_yticks(range(len(labels)), labels, fontsize=5)
        ax.set(title=title, xlabel="slot")
        fig.colorbar(image, ax=ax, fraction=0.05)
    image = axes[2].imshow(np.asarray(example["adjacency"]), cmap="magma", vmin=0)
    axes[2].set(title="graph A (from -> to)", xlabel="to slot", ylabel="from slot")
    fig.colorbar(image, ax=axes[2], fraction=0.05)
    return _save(fig, path)
