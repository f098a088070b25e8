"""Attention-based importance for LLM tokens: training weights, token groups, and their comparison.

Importance r is the attention a token receives from a fixed number of
following queries (:func:`hebbian.sae.attention.received_within`) divided by
the mean of the same quantity over training tokens at the same position
(:func:`relative_to_position`): r = 2 means twice the attention an average
token at that position gets, whatever the position.

Weights follow the seed's convention: an important token gets a higher
reconstruction weight and a lower sparsity weight. From r, clipped to [1/c, c]:
reconstruction weight proportional to r, sparsity weight to 1/r, each scaled
to mean 1 over the training tokens so that the weighted loss stays on the
unweighted loss's scale. Tokens whose r is undefined (too close to the end of
their context) count as r = 1, i.e. as average.

Groups are fixed before looking at any SAE: "important" tokens have r at or
above the training tokens' 75th percentile, "routine" ones at or below the
median; the quartile between, and tokens without r, are left out.

Tokens of one context are not independent, so every test is run on
per-context means (pairs: the same context's important and routine tokens, or
the same context under two SAEs).
"""

from __future__ import annotations

import numpy as np

from .compare import Comparison, paired

IMPORTANT_Q, ROUTINE_Q = 0.75, 0.5
# the seed's aim, as expected signs: weighting gives important tokens richer (higher L0), more faithful
# (lower error) and more distinct (less overlap with routine tokens) codes than routine ones
EXPECTED_CHANGE = {"L0": 1, "relative error": -1}


def relative_to_position(
    values: np.ndarray, position: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """``values`` divided by the mean over the ``reference`` rows at the same position (NaN stays NaN)."""
    ref_pos, ref_vals = position[reference], values[reference]
    baseline = {
        p: np.nanmean(ref_vals[ref_pos == p])
        if np.isfinite(ref_vals[ref_pos == p]).any()
        else np.nan
        for p in np.unique(position)
    }
    return values / np.array([baseline[p] for p in position])


def training_weights(importance: np.ndarray, clip: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(reconstruction weights, sparsity weights), each with mean 1, from importance ratios."""
    r = np.clip(np.nan_to_num(np.asarray(importance, np.float64), nan=1.0), 1 / clip, clip)
    recon, sparsity = r / r.mean(), (1 / r) / (1 / r).mean()
    return recon.astype(np.float32), sparsity.astype(np.float32)


def groups(importance: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (important, routine) masks over ``importance``, thresholds from ``reference``."""
    hi, lo = np.nanquantile(reference, [IMPORTANT_Q, ROUTINE_Q])
    return importance >= hi, importance <= lo


def context_means(values: np.ndarray, context: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the masked tokens of each context (contexts with none are NaN)."""
    ids = np.unique(context)
    return np.array(
        [
            values[(context == c) & mask].mean() if np.any((context == c) & mask) else np.nan
            for c in ids
        ]
    )


def context_overlap(
    active: np.ndarray, context: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Per context, the Jaccard index of the latents used by group ``a``'s and group ``b``'s tokens."""
    out = []
    for c in np.unique(context):
        used_a = active[(context == c) & a].any(axis=0)
        used_b = active[(context == c) & b].any(axis=0)
        union = np.sum(used_a | used_b)
        out.append(np.sum(used_a & used_b) / union if union else np.nan)
    return np.array(out)


def _paired_contexts(
    name: str, a: np.ndarray, b: np.ndarray, expected: int | None = None
) -> Comparison:
    keep = np.isfinite(a) & np.isfinite(b)  # a context may lack tokens of one group
    return paired(name, a[keep], b[keep], expected)


def group_comparisons(
    per_token: dict[str, dict[str, np.ndarray]],
    active: dict[str, np.ndarray],
    context: np.ndarray,
    important: np.ndarray,
    routine: np.ndarray,
    uniform: str,
    weighted: str,
) -> list[Comparison]:
    """Important vs routine tokens within each SAE, and the weighting's effect on each group.

    ``per_token[sae][metric]`` holds per-token values (e.g. 'L0', 'relative error');
    ``active[sae]`` the boolean [N, n_latents] firing pattern.
    """
    rows = []
    for metric in per_token[uniform]:
        for name in (uniform, weighted):
            vals = per_token[name][metric]
            rows.append(
                _paired_contexts(
                    f"{name}: {metric}, important vs routine",
                    context_means(vals, context, important),
                    context_means(vals, context, routine),
                )
            )
        shift = per_token[weighted][metric] - per_token[uniform][metric]
        rows.append(
            _paired_contexts(
                f"{metric} change ({weighted} - {uniform}), important vs routine",
                context_means(shift, context, important),
                context_means(shift, context, routine),
                EXPECTED_CHANGE.get(metric),
            )
        )
    rows.append(
        _paired_contexts(
            f"feature overlap (Jaccard) of important and routine tokens, {weighted} vs {uniform}",
            context_overlap(active[weighted], context, important, routine),
            context_overlap(active[uniform], context, important, routine),
            expected=-1,
        )
    )
    return rows
