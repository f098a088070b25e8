"""The field's SAE quality metrics, on numpy arrays.

- L0: mean number of latents above the firing threshold per example.
- explained variance: ``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` pooled
  over the evaluation set (the fraction of variance unexplained is one minus it).
- normalised MSE: ``mean_t ||x_t - x_hat_t||^2 / ||x_t||^2`` (OpenAI's
  ``normalized_mean_squared_error``), relative to each input's own energy.
- CE loss recovered: ``(CE_zero - CE_sae) / (CE_zero - CE_clean)`` (SAELens'
  ``ce_loss_score``): 1 when splicing the SAE costs nothing, 0 when it is as
  bad as zeroing the activation.
- mean max cosine: for each true atom the best cosine among learned atoms,
  averaged; the dictionary-recovery score of toy-model studies.
"""

from __future__ import annotations

import numpy as np


def l0(f: np.ndarray, threshold: float = 0.0) -> float:
    """Mean count of active latents (f > threshold) per row of ``f`` [N, n_latents]."""
    return float(np.mean(np.sum(np.asarray(f) > threshold, axis=-1)))


def explained_variance(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Pooled explained variance of ``x_hat`` as a reconstruction of ``x`` (both [N, d])."""
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    return float(1 - np.sum((x - x_hat) ** 2) / np.sum((x - x.mean(axis=0)) ** 2))


def relative_error(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Per-example ||x - x_hat||^2 / ||x||^2, shape [N]."""
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    return np.sum((x - x_hat) ** 2, axis=-1) / np.sum(x**2, axis=-1)


def normalized_mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean of :func:`relative_error` over examples."""
    return float(np.mean(relative_error(x, x_hat)))


def ce_loss_recovered(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """(CE_zero - CE_sae) / (CE_zero - CE_clean); NaN when zero-ablation costs nothing."""
    denom = ce_zero - ce_clean
    return float("nan") if denom == 0 else float((ce_zero - ce_sae) / denom)


def mean_max_cosine(true_atoms: np.ndarray, learned_atoms: np.ndarray) -> float:
    """Average over true atoms (rows) of the largest |cosine| with any learned atom (rows)."""

    def unit(a):
        a = np.asarray(a, np.float64)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    return float(np.mean(np.max(np.abs(unit(true_atoms) @ unit(learned_atoms).T), axis=1)))
