"""The seed's five phases on synthetic episodes, rerun over several seeds.

Every condition (a sparsity penalty, its coefficient, importance weights on or
off, a data generator) is trained once per seed; a seed fixes both the episode
noise and the SAE's initial weights, so conditions are paired by seed. Each run
is summarised by per-event-type numbers (:func:`summarize`) that
:mod:`hebbian.sae.claims` tests.

Conditions, in the seed's order:

- Phase 2: rate KL (beta 1) on random vectors with boosted features;
- Phase 3: rate KL (beta 1) on sine-wave episodes;
- Phase 4: KL (beta 3), uniform vs importance-weighted, in the per-example
  form the seed weighted and in Ng's rate form;
- Phase 5: L1 at the seed's betas (1e-3, 5e-4, 1e-4), uniform vs weighted
  (sparsity and reconstruction weights together), with the L1 scaled by
  decoder norms (our standard) and plain (the seed's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import mlx.core as mx
import numpy as np

from .analysis import active_count, cosine_matrix, distinctiveness, sparsity
from .episodes import CHAOTIC, EMOTIONAL, ROUTINE, Episodes, random_episodes, sine_episodes
from .model import SparseAutoencoder
from .train import TrainConfig, TrainResult, train

GENERATORS = {"random": random_episodes, "sine": sine_episodes}


@dataclass(frozen=True)
class SyntheticConfig:
    """Defaults follow the seed: 300-sample episodes, 32 latents, full-batch Adam."""

    seeds: int = 10
    episodes: int = 10
    size: int = 300
    latents: int = 32
    steps: int = 2000
    lr: float = 1e-3
    betas: tuple[float, ...] = (1e-3, 5e-4, 1e-4)
    kl_target: float = 0.05
    threshold: float = 0.05  # an activation above this is "active" (sparsity = share at or below)
    reference_beta: float = 5e-4  # the seed's "optimal balance"


@dataclass(frozen=True)
class Condition:
    """One training recipe: ``weighted`` turns both kinds of importance weights on."""

    name: str
    data: str
    activation: str
    train: TrainConfig
    weighted: bool


@dataclass
class Run:
    """One condition at one seed: traces, reconstructions, loss history and the summary."""

    condition: Condition
    seed: int
    episodes: Episodes
    traces: np.ndarray
    recon: np.ndarray
    result: TrainResult
    summary: dict[str, float]


def conditions(config: SyntheticConfig) -> list[Condition]:
    """The seed's conditions (see the module docstring), named ``phase/penalty/beta/weights``."""
    base = TrainConfig(
        steps=config.steps,
        lr=config.lr,
        kl_target=config.kl_target,
        log_every=max(1, config.steps // 40),
    )
    out = [
        Condition(
            "p2/kl/1/uniform", "random", "sigmoid", replace(base, sparsity="kl", coef=1.0), False
        ),
        Condition(
            "p3/kl/1/uniform", "sine", "sigmoid", replace(base, sparsity="kl", coef=1.0), False
        ),
    ]
    for form in ("kl_example", "kl"):
        for weighted in (False, True):
            out.append(
                Condition(
                    f"p4/{form}/3/{'weighted' if weighted else 'uniform'}",
                    "sine",
                    "sigmoid",
                    replace(base, sparsity=form, coef=3.0),
                    weighted,
                )
            )
    for scaled, tag in ((True, "l1"), (False, "l1_plain")):
        for beta in config.betas:
            for weighted in (False, True):
                out.append(
                    Condition(
                        f"p5/{tag}/{beta:g}/{'weighted' if weighted else 'uniform'}",
                        "sine",
                        "relu",
                        replace(base, sparsity="l1", coef=beta, l1_scaled=scaled),
                        weighted,
                    )
                )
    return out


def summarize(
    episodes: Episodes, traces: np.ndarray, recon: np.ndarray, threshold: float
) -> dict[str, float]:
    """Per-type active latents, sparsity and reconstruction MSE, and the distinctiveness of the types' traces.

    ``mse_clean_*`` scores the reconstruction against the noise-free signal (a
    smoothing SAE scores below the noise variance there; one that reproduces
    the noise scores about the noise variance). ``cosine_within_routine`` is the
    mean cosine between routine episodes' own traces: near 0 means each routine
    episode has latents of its own, i.e. the SAE memorises episodes.
    """
    out: dict[str, float] = {}
    active, sparse = active_count(traces, threshold), sparsity(traces, threshold)
    errors = {"mse": np.mean((episodes.x - recon) ** 2, axis=1)}
    if episodes.clean is not None:
        errors["mse_clean"] = np.mean((episodes.clean - recon) ** 2, axis=1)
    for label in (EMOTIONAL, CHAOTIC, ROUTINE):
        rows = episodes.index(label)
        out[f"active_{label}"] = float(active[rows].mean())
        out[f"sparsity_{label}"] = float(sparse[rows].mean())
        for name, err in errors.items():
            out[f"{name}_{label}"] = float(err[rows].mean())
    out["active_gap"] = out[f"active_{EMOTIONAL}"] - out[f"active_{ROUTINE}"]
    routine = cosine_matrix(traces[episodes.index(ROUTINE)])
    out["cosine_within_routine"] = float(routine[np.triu_indices_from(routine, k=1)].mean())
    for kind, pairs in distinctiveness(traces, episodes.labels).items():
        for (a, b), value in pairs.items():
            out[f"{kind}_{a}_{b}"] = value
    return out


def run_condition(condition: Condition, seed: int, config: SyntheticConfig) -> Run:
    """Train one SAE for ``condition`` at ``seed`` and summarise it."""
    episodes = GENERATORS[condition.data](n=config.episodes, size=config.size, seed=seed)
    sae = SparseAutoencoder(
        config.size, config.latents, condition.activation, b_dec=episodes.x.mean(axis=0), seed=seed
    )
    weights = (
        (episodes.recon_weights(), episodes.sparsity_weights())
        if condition.weighted
        else (None, None)
    )
    result = train(sae, episodes.x, replace(condition.train, seed=seed), *weights)
    recon, traces, _ = (np.array(a) for a in sae(mx.array(episodes.x)))
    return Run(
        condition,
        seed,
        episodes,
        traces,
        recon,
        result,
        summarize(episodes, traces, recon, config.threshold),
    )


def run_synthetic(
    config: SyntheticConfig, progress: Callable[[int, int], None] | None = None
) -> list[Run]:
    """Every condition at every seed (seeds 0..config.seeds-1); ``progress(done, total)`` after each."""
    todo = [(c, seed) for c in conditions(config) for seed in range(config.seeds)]
    runs = []
    for condition, seed in todo:
        runs.append(run_condition(condition, seed, config))
        if progress is not None:
            progress(len(runs), len(todo))
    return runs


def find(runs: list[Run], name: str, seed: int = 0) -> Run:
    """The run of condition ``name`` at ``seed``."""
    return next(r for r in runs if r.condition.name == name and r.seed == seed)


def table(runs: list[Run], name: str, metric: str) -> np.ndarray:
    """``metric`` of condition ``name`` by seed (ordered by seed)."""
    chosen = sorted((r for r in runs if r.condition.name == name), key=lambda r: r.seed)
    if not chosen:
        raise KeyError(f"no runs of condition {name!r}")
    return np.array([r.summary[metric] for r in chosen])
