"""SAEs on a language model's residual stream, and the seed's importance weighting on real text.

Pipeline (:func:`run_llm`):

1. cut the corpus into ``ctx``-token contexts; the first ones train, the last
   ``eval_contexts`` are held out; collect the residual stream after ``layer``
   and the attention every token receives there (cached under ``runs/``);
2. set aside outlier tokens whose residual norm exceeds ``outlier_factor`` x
   the median (attention sinks: besides position 0, SmolLM2 gives an early
   newline a norm ~175x the median, and five such tokens would hold 90% of the
   training variance); they are neither trained on nor scored, and the splice
   passes them through untouched, as it does position 0. Scale the rest so
   their mean norm is sqrt(d) (SAELens' ``expected_average_only_in``), the
   scale fixed on training tokens;
3. train three SAEs from the same initial weights and batch order: TopK (unit
   atoms, AuxK for dead latents), ReLU with decoder-norm-scaled L1, and the
   same ReLU SAE with attention-based importance weights on reconstruction and
   sparsity (:mod:`hebbian.sae.importance`). The encoder is scaled so initial
   reconstructions have the data's norm (OpenAI); learning rate and L1
   coefficient warm up linearly (SAELens): without the warm-up a dense ReLU
   code at initialisation makes Adam's first steps overshoot;
4. score each on held-out tokens: L0, explained variance, normalised MSE,
   dead latents, and CE loss recovered with its reconstruction spliced into
   the model (clean vs SAE vs zero-ablation);
5. compare important and routine tokens' codes under the uniform and the
   weighted ReLU SAEs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import mlx.core as mx
import numpy as np

from . import activations as acts_mod
from .compare import Comparison, correct_family
from .importance import group_comparisons, groups, relative_to_position, training_weights
from .metrics import ce_loss_recovered, explained_variance, l0, normalized_mse, relative_error
from .model import SparseAutoencoder
from .splice import mean_ce, spliced
from .train import TrainConfig, TrainResult, train

Progress = Callable[[str, int, int], None]  # (stage, done, total)
UNIFORM, WEIGHTED, TOPK = "relu", "relu_weighted", "topk"


@dataclass(frozen=True)
class LLMConfig:
    """Every setting of one ``hebbian sae llm`` run."""

    model: str = "default"
    corpus: str = "austen/prideprejudice"
    layer: int = 12
    tokens: int = 32768  # training tokens (position 0 of each context excluded)
    ctx: int = 128
    eval_contexts: int = 24
    latents: int = 2048
    k: int = 32
    l1: float = 4e-3
    steps: int = 400
    batch_size: int = 512
    lr: float = 4e-4
    warmup_steps: int = 100
    auxk_coef: float = 1 / 32
    weight_clip: float = 4.0
    horizon: int = 32  # following queries over which a token's importance is measured
    outlier_factor: float = 10.0  # tokens with a norm above this x the median are left to the model
    seed: int = 0
    runs_dir: str = "runs/sae"

    @property
    def train_contexts(self) -> int:
        return math.ceil(self.tokens / (self.ctx - 1))


@dataclass
class SAERun:
    """One trained SAE and its scores."""

    sae: SparseAutoencoder
    result: TrainResult
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class LLMResults:
    config: LLMConfig
    acts: acts_mod.Activations
    scale: float
    train_rows: np.ndarray
    eval_rows: np.ndarray
    saes: dict[str, SAERun]
    ce: dict[str, float]
    comparisons: list[Comparison]
    per_token: dict[str, dict[str, np.ndarray]]
    important: np.ndarray
    routine: np.ndarray
    importance: np.ndarray  # per token of ``acts``; NaN where undefined
    activations_cached: bool = False
    outliers: int = 0  # tokens set aside for their norm (training and held-out)


def _collect(
    model, tokenizer, text: str, config: LLMConfig, progress: Progress
) -> tuple[acts_mod.Activations, bool]:
    """The activations and whether they came from the cache."""
    n_ctx = config.train_contexts + config.eval_contexts
    tokens = acts_mod.token_contexts(tokenizer, text, n_ctx, config.ctx)
    path = acts_mod.cache_path(
        Path(config.runs_dir),
        model=config.model,
        corpus=config.corpus,
        layer=config.layer,
        ctx=config.ctx,
        contexts=n_ctx,
        horizon=config.horizon,
        tokens=_hash_tokens(tokens),
        fields=sorted(acts_mod.Activations.__dataclass_fields__),
    )
    if path.exists():
        progress("collect", n_ctx, n_ctx)
        return acts_mod.load(path), True
    acts = acts_mod.collect(
        model,
        tokens,
        config.layer,
        config.horizon,
        on_batch=lambda done: progress("collect", done, n_ctx),
    )
    acts_mod.save(acts, path)
    return acts, False


def _hash_tokens(tokens: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(tokens).tobytes()).hexdigest()[:16]


def _recipes(config: LLMConfig) -> dict[str, tuple[str, TrainConfig]]:
    base = TrainConfig(
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=config.seed,
        warmup_steps=config.warmup_steps,
        dead_window=config.tokens,
        log_every=max(1, config.steps // 40),
    )
    relu = replace(base, sparsity="l1", coef=config.l1, l1_scaled=True)
    return {
        TOPK: (
            "topk",
            replace(base, sparsity="none", unit_norm_decoder=True, auxk_coef=config.auxk_coef),
        ),
        UNIFORM: ("relu", relu),
        WEIGHTED: ("relu", relu),
    }


def _encode(sae: SparseAutoencoder, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x_hat, f, _ = sae(mx.array(x))
    return np.array(x_hat), np.array(f)


def _score(run: SAERun, x_train: np.ndarray, x_eval: np.ndarray) -> None:
    x_hat, f = _encode(run.sae, x_eval)
    x_hat_train, _ = _encode(run.sae, x_train)
    run.metrics.update(
        {
            "L0": l0(f),
            "explained variance": explained_variance(x_eval, x_hat),
            "explained variance (train)": explained_variance(x_train, x_hat_train),
            "normalized MSE": normalized_mse(x_eval, x_hat),
            "dead fraction": run.result.dead_fraction,
        }
    )


def inliers_only(transform, max_norm: float):
    """``transform`` applied to the positions whose norm is at most ``max_norm``; outliers pass through."""
    return lambda h: mx.where(mx.linalg.norm(h, axis=-1, keepdims=True) > max_norm, h, transform(h))


def _ce(
    model,
    eval_tokens: np.ndarray,
    layer: int,
    saes: dict[str, SAERun],
    scale: float,
    max_norm: float,
    progress: Progress,
) -> dict[str, float]:
    batches = [mx.array(eval_tokens[i : i + 4]) for i in range(0, len(eval_tokens), 4)]
    total = 2 + len(saes)
    progress("CE", 0, total)
    out = {"clean": mean_ce(model, batches)}
    progress("CE", 1, total)
    with spliced(model, layer, inliers_only(mx.zeros_like, max_norm)):
        out["zero-ablation"] = mean_ce(model, batches)
    progress("CE", 2, total)
    for i, (name, run) in enumerate(saes.items()):
        with spliced(
            model, layer, inliers_only(lambda h, sae=run.sae: sae(h * scale)[0] / scale, max_norm)
        ):
            out[name] = mean_ce(model, batches)
        run.metrics["CE with SAE"] = out[name]
        run.metrics["CE loss recovered"] = ce_loss_recovered(
            out["clean"], out[name], out["zero-ablation"]
        )
        progress("CE", 3 + i, total)
    return out


def run_llm(
    model, tokenizer, text: str, config: LLMConfig, progress: Progress = lambda *a: None
) -> LLMResults:
    """The whole pipeline (see the module docstring) on an already loaded model."""
    n_layers = len(model.model.layers)
    if not 0 <= config.layer < n_layers:
        raise ValueError(f"layer must lie in 0..{n_layers - 1}, got {config.layer}")
    acts, cached = _collect(model, tokenizer, text, config, progress)
    norms = np.linalg.norm(acts.x, axis=1)
    max_norm = config.outlier_factor * float(np.median(norms))
    inlier = norms <= max_norm
    train_rows = acts.rows(np.arange(config.train_contexts))
    eval_rows = acts.rows(
        np.arange(config.train_contexts, config.train_contexts + config.eval_contexts)
    )
    train_rows, eval_rows = train_rows[inlier[train_rows]], eval_rows[inlier[eval_rows]]
    scale = float(math.sqrt(acts.x.shape[1]) / norms[train_rows].mean())
    x_train, x_eval = acts.x[train_rows] * scale, acts.x[eval_rows] * scale
    importance = relative_to_position(acts.windowed, acts.position, train_rows)
    recon_w, sparsity_w = training_weights(importance[train_rows], config.weight_clip)

    saes: dict[str, SAERun] = {}
    for name, (activation, recipe) in _recipes(config).items():
        sae = SparseAutoencoder(
            x_train.shape[1],
            config.latents,
            activation,
            k=config.k if activation == "topk" else None,
            b_dec=x_train.mean(axis=0),
            seed=config.seed,
        )
        sae.calibrate_encoder(x_train[:4096])
        weights = (recon_w, sparsity_w) if name == WEIGHTED else (None, None)
        result = train(
            sae,
            x_train,
            recipe,
            *weights,
            on_step=lambda step, logs, name=name: progress(f"train {name}", step, config.steps),
        )
        saes[name] = SAERun(sae, result)
        _score(saes[name], x_train, x_eval)

    ce = _ce(
        model, acts.tokens[config.train_contexts :], config.layer, saes, scale, max_norm, progress
    )

    important, routine = groups(importance[eval_rows], importance[train_rows])
    per_token, active = {}, {}
    for name in (UNIFORM, WEIGHTED):
        x_hat, f = _encode(saes[name].sae, x_eval)
        active[name] = f > 0
        per_token[name] = {
            "L0": active[name].sum(axis=1).astype(float),
            "relative error": relative_error(x_eval, x_hat),
        }
    comparisons = correct_family(
        group_comparisons(
            per_token, active, acts.context[eval_rows], important, routine, UNIFORM, WEIGHTED
        )
    )
    return LLMResults(
        config,
        acts,
        scale,
        train_rows,
        eval_rows,
        saes,
        ce,
        comparisons,
        per_token,
        important,
        routine,
        importance,
        cached,
        int((~inlier).sum()),
    )
