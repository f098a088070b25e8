"""Seeded MLX training loop for a SparseAutoencoder (Adam, minibatches).

One loop serves every experiment: the loss is reconstruction + ``coef`` x
sparsity (L1, KL or none) + ``auxk_coef`` x AuxK, each importance-weighted per
example where weights are given (AuxK is not: it only revives dead latents).

Decoder norms are handled one of two ways, chosen by the config:

- ``unit_norm_decoder=True`` (the TopK recipe, OpenAI): the gradient's
  component along each atom is projected out before the Adam step and the atoms
  are renormalised after it;
- otherwise atoms are free and the L1 penalty is scaled by their norms
  (``l1_scaled=True``, SAELens/Anthropic), which removes the incentive to shrink
  latents by growing atoms.

A latent is dead once it has not fired (see :func:`firing_threshold`) on any of the last
``dead_window`` training examples (tokens); the count is kept across steps as
OpenAI's ``stats_last_nonzero`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from .losses import auxk_loss, kl_penalty, kl_rate_penalty, l1_penalty, squared_error, weighted_mean
from .model import SparseAutoencoder

SPARSITY = ("l1", "kl", "kl_example", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of one training run; the defaults are the synthetic episodes' (the seed's scale)."""

    steps: int = 2000
    batch_size: int | None = None  # None: the whole data set every step
    lr: float = 1e-3
    sparsity: str = "l1"
    coef: float = 5e-4
    # lr and sparsity coefficient ramp linearly from 0 over these steps (SAELens)
    warmup_steps: int = 0
    kl_target: float = 0.05
    l1_scaled: bool = True
    unit_norm_decoder: bool = False
    dead_window: int = 10_000
    auxk_coef: float = 0.0
    k_aux: int | None = None  # None: d_in // 2 (SAELens' heuristic from the TopK paper)
    log_every: int = 50
    seed: int = 0

    def __post_init__(self):
        if self.sparsity not in SPARSITY:
            raise ValueError(f"sparsity must be one of {SPARSITY}, got {self.sparsity!r}")
        if (
            self.steps < 1
            or self.log_every < 1
            or self.lr <= 0
            or self.coef < 0
            or self.auxk_coef < 0
        ):
            raise ValueError("steps and log_every must be >= 1, lr > 0, coef and auxk_coef >= 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")


@dataclass
class TrainResult:
    """Loss curves (one point every ``log_every`` steps) and the final dead-latent state."""

    history: dict[str, list[float]] = field(default_factory=dict)
    tokens_since_fired: np.ndarray | None = None
    dead_window: int = 0

    @property
    def dead(self) -> np.ndarray:
        return self.tokens_since_fired >= self.dead_window

    @property
    def dead_fraction(self) -> float:
        return float(self.dead.mean())


def firing_threshold(sae: SparseAutoencoder, config: TrainConfig) -> float:
    """Activation above which a latent fires: 0 for ReLU/TopK, the KL target rate for sigmoid latents."""
    return config.kl_target if sae.activation == "sigmoid" else 0.0


def _loss(sae: SparseAutoencoder, x, w_rec, w_sp, dead, coef, cfg: TrainConfig, k_aux: int):
    x_hat, f, z = sae(x)
    recon = weighted_mean(squared_error(x, x_hat), w_rec)
    if cfg.sparsity == "l1":
        sparsity = weighted_mean(
            l1_penalty(f, sae.decoder_norms() if cfg.l1_scaled else None), w_sp
        )
    elif cfg.sparsity == "kl":
        sparsity = kl_rate_penalty(f, cfg.kl_target, w_sp)
    elif cfg.sparsity == "kl_example":
        sparsity = weighted_mean(kl_penalty(f, cfg.kl_target), w_sp)
    else:
        sparsity = mx.array(0.0)
    aux = auxk_loss(sae, x, x_hat, z, dead, k_aux) if cfg.auxk_coef > 0 else mx.array(0.0)
    total = recon + coef * sparsity + cfg.auxk_coef * aux
    fired = f > firing_threshold(sae, cfg)
    return total, (recon, sparsity, aux, mx.mean(mx.sum(fired, axis=-1)), mx.any(fired, axis=0))


def _schedule(config: TrainConfig):
    if not config.warmup_steps:
        return config.lr
    return optim.join_schedules(
        [optim.linear_schedule(0.0, config.lr, config.warmup_steps), lambda _: config.lr],
        [config.warmup_steps],
    )


def _project_out_atom_direction(grad_dec: mx.array, atoms: mx.array) -> mx.array:
    # keeps unit-norm atoms on the sphere to first order (OpenAI's grad adjustment)
    return grad_dec - mx.sum(grad_dec * atoms, axis=1, keepdims=True) * atoms


def _batches(n: int, batch_size: int | None, rng: np.random.Generator):
    """Endless index batches: seeded permutations, epoch after epoch."""
    while True:
        if batch_size is None or batch_size >= n:
            yield None
            continue
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train(
    sae: SparseAutoencoder,
    x,
    config: TrainConfig,
    recon_weights=None,
    sparsity_weights=None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``sae`` in place on ``x`` [N, d_in]; weights are optional per-example [N] arrays.

    ``on_step(step, logs)`` is called every ``log_every`` steps and after the last.
    """
    x = mx.array(np.asarray(x, np.float32))
    n = x.shape[0]
    # unit weights rather than None keep one compiled graph for weighted and unweighted runs
    w_rec, w_sp = (
        mx.ones((n,)) if w is None else mx.array(np.asarray(w, np.float32))
        for w in (recon_weights, sparsity_weights)
    )
    for name, w in (("recon_weights", w_rec), ("sparsity_weights", w_sp)):
        if w.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    if config.sparsity.startswith("kl") and sae.activation != "sigmoid":
        raise ValueError("KL sparsity needs sigmoid latents (rates in (0, 1))")
    k_aux = config.k_aux or max(1, sae.d_in // 2)
    if config.unit_norm_decoder:
        sae.normalize_decoder()

    rng = np.random.default_rng(config.seed)
    optimizer = optim.Adam(learning_rate=_schedule(config))
    loss_and_grad = nn.value_and_grad(sae, _loss)
    state = [sae.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step_fn(xb, rb, sb, dead, coef):
        (loss, aux_out), grads = loss_and_grad(sae, xb, rb, sb, dead, coef, config, k_aux)
        if config.unit_norm_decoder:
            grads["W_dec"] = _project_out_atom_direction(grads["W_dec"], sae.W_dec)
        optimizer.update(sae, grads)
        if config.unit_norm_decoder:
            sae.normalize_decoder()
        return loss, *aux_out

    since_fired = np.zeros(sae.n_latents, np.int64)
    result = TrainResult(
        history={k: [] for k in ("step", "loss", "recon", "sparsity", "aux", "l0", "dead")},
        dead_window=config.dead_window,
    )
    batches = _batches(n, config.batch_size, rng)
    for step in range(1, config.steps + 1):
        idx = next(batches)
        xb, rb, sb = (
            (x, w_rec, w_sp) if idx is None else (a[mx.array(idx)] for a in (x, w_rec, w_sp))
        )
        coef = (
            config.coef * min(1.0, step / config.warmup_steps)
            if config.warmup_steps
            else config.coef
        )
        loss, recon, sparsity, aux, l0, fired = step_fn(
            xb, rb, sb, mx.array(since_fired >= config.dead_window), mx.array(coef)
        )
        mx.eval(state, loss, fired)
        since_fired += xb.shape[0]
        since_fired[np.array(fired)] = 0
        if step % config.log_every == 0 or step == config.steps:
            logs = {
                "loss": loss.item(),
                "recon": recon.item(),
                "sparsity": sparsity.item(),
                "aux": aux.item(),
                "l0": l0.item(),
                "dead": float(np.mean(since_fired >= config.dead_window)),
            }
            result.history["step"].append(step)
            for key, value in logs.items():
                result.history[key].append(value)
            if on_step is not None:
                on_step(step, logs)
    result.tokens_since_fired = since_fired
    return result
