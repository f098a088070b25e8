"""The seed's analyses of memory traces (latent codes), per episode and per event type.

- per-episode sparsity: the fraction of latents at or below a threshold;
- distinctiveness: cosine similarity between traces, raw and normalised, and
  Euclidean distance. "Normalised" here z-scores each latent across the
  episodes before the cosine, which removes the code every episode shares and
  compares what is left (raw cosines of non-negative codes that share one
  strong latent are high whatever else differs: the seed's "paradox");
- neuron overlap: for each threshold, the latents active in each event type
  (on at least one of its episodes), their pairwise intersections and the core
  shared by all types.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

DEFAULT_THRESHOLDS = (0.01, 0.05, 0.1, 0.2)


def sparsity(traces: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Fraction of latents with activation <= ``threshold``, per trace [N]."""
    return np.mean(np.asarray(traces) <= threshold, axis=-1)


def active_count(traces: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Number of latents with activation > ``threshold``, per trace [N]."""
    return np.sum(np.asarray(traces) > threshold, axis=-1)


def cosine_matrix(traces: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of rows; a zero row has cosine 0 with everything."""
    t = np.asarray(traces, np.float64)
    norms = np.linalg.norm(t, axis=1, keepdims=True)
    unit = np.divide(t, norms, out=np.zeros_like(t), where=norms > 0)
    return unit @ unit.T


def standardize_latents(traces: np.ndarray) -> np.ndarray:
    """Z-score each latent (column) across traces; constant latents become 0."""
    t = np.asarray(traces, np.float64)
    sd = t.std(axis=0)
    return np.divide(t - t.mean(axis=0), sd, out=np.zeros_like(t), where=sd > 0)


def euclidean_matrix(traces: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distance between rows."""
    t = np.asarray(traces, np.float64)
    return np.linalg.norm(t[:, None, :] - t[None, :, :], axis=-1)


def type_traces(traces: np.ndarray, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Mean trace of each event type, in first-appearance order of the labels."""
    labels_arr = np.array(labels)
    return {
        label: np.asarray(traces)[labels_arr == label].mean(axis=0)
        for label in dict.fromkeys(labels)
    }


def distinctiveness(
    traces: np.ndarray, labels: tuple[str, ...]
) -> dict[str, dict[tuple[str, str], float]]:
    """Raw cosine, normalised cosine and Euclidean distance between the event types' mean traces.

    Normalisation z-scores latents across all episodes first, then averages per type.
    """
    raw = type_traces(traces, labels)
    norm = type_traces(standardize_latents(traces), labels)
    names = list(raw)
    out = {"cosine": {}, "cosine_normalized": {}, "euclidean": {}}
    for a, b in combinations(names, 2):
        out["cosine"][a, b] = float(cosine_matrix(np.stack([raw[a], raw[b]]))[0, 1])
        out["cosine_normalized"][a, b] = float(cosine_matrix(np.stack([norm[a], norm[b]]))[0, 1])
        out["euclidean"][a, b] = float(np.linalg.norm(raw[a] - raw[b]))
    return out


def neuron_overlap(
    traces: np.ndarray, labels: tuple[str, ...], thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
) -> list[dict]:
    """Per threshold: latents active on any episode of each type, pairwise shared, and the core."""
    traces, labels_arr = np.asarray(traces), np.array(labels)
    rows = []
    for thr in thresholds:
        active = {
            name: set(np.flatnonzero((traces[labels_arr == name] > thr).any(axis=0)).tolist())
            for name in dict.fromkeys(labels)
        }
        shared = {(a, b): sorted(active[a] & active[b]) for a, b in combinations(active, 2)}
        core = sorted(set.intersection(*active.values())) if active else []
        rows.append(
            {
                "threshold": thr,
                "active": {k: sorted(v) for k, v in active.items()},
                "shared": shared,
                "core": core,
            }
        )
    return rows
