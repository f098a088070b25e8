"""SAE loss terms, each per example so that importance weights can act on it.

Every penalty returns one value per example ([B]); :func:`weighted_mean` turns
it into the batch loss, ``mean_i(w_i * v_i)``, the seed's form of per-episode
weighting. Weights are not renormalised here: callers that want the weighted
loss on the unweighted loss's scale pass weights whose mean is 1.

Conventions (stated because SAE codebases differ):

- reconstruction: squared error averaged over features (the seed's MSE), so a
  sparsity coefficient means the same thing whatever ``d_in`` is;
- L1: ``sum_i f_i * ||W_dec[i]||``, the penalty SAELens applies with
  ``scale_sparsity_penalty_by_decoder_norm`` (Anthropic, April 2024 update), so
  shrinking latents while growing atoms cannot lower it; pass ``None`` norms
  for the plain L1 the seed used;
- KL, over sigmoid latents, in two forms: Ng's ``sum_j KL(rho || rate_j)`` on
  the batch-mean rate of each latent (the seed's Phases 1-3; weights enter the
  rate), and the per-example ``sum_j KL(rho || f_ij)`` through which
  per-episode weights act directly (the seed's Phase 4). The per-example form
  is minimised by every latent sitting at ``rho`` on every example: it asks
  for a small mean activation, not for sparse codes;
- AuxK: the top ``k_aux`` dead latents reconstruct the main reconstruction's
  residual, normalised by the residual's variance (OpenAI, Gao et al. 2024,
  coefficient 1/32 there), so dead latents get a gradient toward useful work.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .model import SparseAutoencoder, topk_mask

_EPS = 1e-6


def squared_error(x: mx.array, x_hat: mx.array) -> mx.array:
    """Mean over features of (x - x_hat)^2, one value per example."""
    return mx.mean(mx.square(x - x_hat), axis=-1)


def weighted_mean(values: mx.array, weights: mx.array | None = None) -> mx.array:
    """mean_i(w_i * v_i); the plain mean when ``weights`` is None."""
    return mx.mean(values if weights is None else weights * values)


def l1_penalty(f: mx.array, decoder_norms: mx.array | None = None) -> mx.array:
    """sum_i |f_i| (times the atom's norm when ``decoder_norms`` is given), per example."""
    mags = mx.abs(f)
    return mx.sum(mags if decoder_norms is None else mags * decoder_norms, axis=-1)


def _bernoulli_kl(target: float, p: mx.array) -> mx.array:
    if not 0 < target < 1:
        raise ValueError(f"the KL target rate must lie strictly between 0 and 1, got {target!r}")
    p = mx.clip(p, _EPS, 1 - _EPS)
    return target * mx.log(target / p) + (1 - target) * mx.log((1 - target) / (1 - p))


def kl_penalty(f: mx.array, target: float) -> mx.array:
    """sum_j KL(Bernoulli(target) || Bernoulli(f_ij)) per example; ``f`` must lie in (0, 1)."""
    return mx.sum(_bernoulli_kl(target, f), axis=-1)


def kl_rate_penalty(f: mx.array, target: float, weights: mx.array | None = None) -> mx.array:
    """Ng's penalty sum_j KL(target || rate_j), rate_j the (weighted) batch mean of f_ij; a scalar.

    With weights the rate is sum_i w_i f_ij / sum_i w_i: an example with a low
    weight counts less toward the rates the penalty pushes down.
    """
    w = mx.ones((f.shape[0],)) if weights is None else weights
    rate = mx.sum(w[:, None] * f, axis=0) / mx.sum(w)
    return mx.sum(_bernoulli_kl(target, rate))


def auxk_loss(
    sae: SparseAutoencoder, x: mx.array, x_hat: mx.array, z: mx.array, dead: mx.array, k_aux: int
) -> mx.array:
    """Normalised MSE of the top-``k_aux`` dead latents' reconstruction of the residual.

    ``dead`` is a boolean [n_latents] mask; with no dead latent the loss is 0.
    Like SAELens, the loss is scaled by min(n_dead / k_aux, 1) so that a few
    dead latents do not get the full weight.
    """
    n_dead = mx.sum(dead)
    residual = mx.stop_gradient(x - x_hat)
    dead_z = mx.where(dead, z, -mx.inf)
    chosen = mx.stop_gradient(topk_mask(dead_z, min(k_aux, z.shape[-1]))) * dead
    residual_hat = (nn.relu(z) * chosen) @ sae.W_dec
    err = mx.sum(mx.square(residual_hat - residual))
    spread = mx.sum(mx.square(residual - mx.mean(residual, axis=0)))
    scale = mx.minimum(n_dead / k_aux, 1.0)
    return mx.where(n_dead > 0, scale * err / (spread + _EPS), 0.0)
