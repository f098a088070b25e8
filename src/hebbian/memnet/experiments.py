"""The three experiments, each run seed by seed over the same set of model variants.

- dependency: recall the value of a key seen up to 18 tokens back, mostly beyond the
  controller's reach (receptive field 5 at the defaults); accuracy against distance.
- continual: three recall tasks in sequence, each with its own keys (an input shift) and
  answer rule (an output shift); accuracy on every task throughout -> forgetting curves.
- forgetting: marked pairs are queried, unmarked distractor pairs never are, and there
  are more pairs than the memory comfortably holds; how long each kind of write survives.

Every variant of a seed sees the same training stream and evaluation set and starts from
the same seed: differences between variants are paired by seed. The baselines are sized
to the full MemNet's parameter count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from itertools import chain

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from hebbian.io import provenance

from . import dynamics, tasks
from .baselines import count_parameters, lstm_baseline, transformer_baseline
from .config import ABLATIONS, MemNetConfig, ablated
from .model import MemNet
from .train import evaluate, item_correct, train

MEMNET_VARIANTS = ("memnet", *ABLATIONS)
BASELINES = ("transformer", "lstm")
VARIANTS = (*MEMNET_VARIANTS, *BASELINES)
TASKS = ("dependency", "continual", "forgetting")
LOSS_EVERY = 10  # loss curves are stored as means over blocks of this many steps


@dataclass(frozen=True)
class Settings:
    """Data, model and training settings of one experiment (stored with every seed)."""

    task: str
    steps: int = 400
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup: int = 100  # steps of linear learning-rate warm-up
    eval_sequences: int = 512
    story_length: int = 16
    n_pairs: int = 2
    n_distractors: int = 0
    mark: bool = False
    n_tasks: int = 1
    answer_shift: int = 0
    evals_per_task: int = 6  # continual only: evaluations of every task while each task trains
    variants: tuple[str, ...] = VARIANTS
    model: dict = field(default_factory=dict)  # MemNetConfig fields other than their defaults

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        unknown = set(self.variants) - set(VARIANTS)
        if unknown or not self.variants:
            raise ValueError(
                f"variants must be a non-empty subset of {VARIANTS}, got {self.variants!r}"
            )
        if self.steps < 1 or self.batch_size < 1 or self.eval_sequences < 1 or self.warmup < 0:
            raise ValueError("steps, batch_size and eval_sequences must be >= 1, warmup >= 0")
        if self.task == "continual" and (
            self.steps % self.n_tasks or self.steps // self.n_tasks < self.evals_per_task
        ):
            raise ValueError(
                f"continual needs steps ({self.steps}) divisible by n_tasks ({self.n_tasks}), "
                f"with at least evals_per_task ({self.evals_per_task}) steps per task"
            )
        self.recall_tasks()  # validates the data settings
        self.memnet_config()  # validates the model settings

    def vocabulary(self) -> tasks.Vocabulary:
        return tasks.Vocabulary(n_tasks=self.n_tasks)

    def recall_tasks(self) -> list[tasks.RecallTask]:
        """One RecallTask per (continual) task."""
        return [
            tasks.RecallTask(
                self.vocabulary(),
                self.story_length,
                self.n_pairs,
                self.n_distractors,
                self.mark,
                task=i,
                answer_shift=self.answer_shift,
            )
            for i in range(self.n_tasks)
        ]

    def memnet_config(self) -> MemNetConfig:
        return MemNetConfig(vocab_size=self.vocabulary().size, **self.model)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["variants"] = list(self.variants)
        return d


DEFAULTS = {
    "dependency": Settings("dependency"),
    "continual": Settings(
        "continual", steps=600, n_tasks=3, answer_shift=1, variants=("memnet", *BASELINES)
    ),
    "forgetting": Settings("forgetting", story_length=20, n_pairs=2, n_distractors=4, mark=True),
}


def settings_for(task: str, **overrides) -> Settings:
    """The defaults of ``task`` with the given fields replaced (None values are ignored)."""
    if task not in DEFAULTS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return replace(DEFAULTS[task], **{k: v for k, v in overrides.items() if v is not None})


def build(variant: str, config: MemNetConfig) -> nn.Module:
    """A fresh model of ``variant``; baselines get the full MemNet's parameter budget."""
    if variant == "memnet":
        return MemNet(config)
    if variant in ABLATIONS:
        return MemNet(ablated(config, variant))
    budget = count_parameters(MemNet(config))
    return (
        transformer_baseline(config, budget)
        if variant == "transformer"
        else lstm_baseline(config, budget)
    )


def run_seed(
    settings: Settings, seed: int, advance: Callable[[str], None] = lambda variant: None
) -> dict:
    """Train and evaluate every variant on one seed; ``advance(variant)`` after each training step."""
    run = _continual if settings.task == "continual" else _recall
    config = settings.memnet_config()  # the loss weights and reach are the same for every variant
    results = {}
    for variant in settings.variants:
        start = time.perf_counter()
        mx.random.seed(seed)
        model = build(variant, config)
        train_rng, eval_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        result = run(
            settings,
            config,
            model,
            seed,
            train_rng,
            eval_rng,
            lambda step, loss, v=variant: advance(v),
        )
        result["parameters"] = count_parameters(model)
        result["seconds"] = round(time.perf_counter() - start, 1)
        results[variant] = result
    return {
        "task": settings.task,
        "seed": seed,
        "settings": settings.to_dict(),
        "memnet_config": config.to_dict(),
        "provenance": provenance.snapshot(),
        "receptive_field": config.receptive_field,
        "chance": tasks.chance(settings.recall_tasks()[0]),
        "variants": results,
    }


def _batches(task: tasks.RecallTask, settings: Settings, steps: int, rng: np.random.Generator):
    return (tasks.sample(task, settings.batch_size, rng) for _ in range(steps))


def _loss_curve(losses: list[float]) -> list[float]:
    blocks = len(losses) // LOSS_EVERY
    return (
        np.asarray(losses[: blocks * LOSS_EVERY])
        .reshape(blocks, LOSS_EVERY)
        .mean(axis=1)
        .round(4)
        .tolist()
    )


def _recall_metrics(preds: np.ndarray, batch: tasks.Batch, reach: int) -> dict:
    """Accuracy overall, beyond and within the controller's reach, by distance, and binding-free recall.

    ``in_sequence`` counts answers that name the answer of any queried pair of the same
    sequence: a memory that keeps the values but not which key each belongs to scores
    1 there and 1 / n_pairs on accuracy.
    """
    correct, distances = item_correct(preds, batch)
    beyond = distances > reach
    found = np.unique(distances)
    asked = batch.targets >= 0
    answers = np.where(asked, batch.targets, -2)
    in_sequence = (preds[:, :, None] == answers[:, None, :]).any(axis=-1)[asked]
    return {
        "accuracy": float(correct.mean()),
        "beyond_reach": float(correct[beyond].mean()) if beyond.any() else float("nan"),
        "within_reach": float(correct[~beyond].mean()) if (~beyond).any() else float("nan"),
        "in_sequence": float(in_sequence.mean()),
        "by_distance": {
            "distance": found.tolist(),
            "n": [int((distances == d).sum()) for d in found],
            "correct": [int(correct[distances == d].sum()) for d in found],
        },
    }


def _memory_summary(trace: dict | None, batch: tasks.Batch) -> dict | None:
    """Slot reuse, read entropy, policy mix and write mass per role (None without memory)."""
    if trace is None:
        return None
    omega = trace["write_weights"]
    return {
        "slot_reuse": float(omega.sum(axis=1).mean()),  # full overwrites per slot per sequence
        "read_entropy": float(dynamics.read_entropy(trace["read_weights"]).mean()),
        "read_entropy_uniform": float(np.log(omega.shape[-1])),
        "policy": trace["policy"].mean(axis=(0, 1, 2)).round(4).tolist(),
        "write_mass_by_role": dynamics.write_mass_by_role(
            omega, batch.roles, len(tasks.ROLE_NAMES)
        ).tolist(),
    }


def _recall(settings, config, model, seed, train_rng, eval_rng, on_step) -> dict:
    """dependency and forgetting: train on one task, then score recall (and, for forgetting, dynamics)."""
    task = settings.recall_tasks()[0]
    losses = train(
        model,
        config,
        _batches(task, settings, settings.steps, train_rng),
        seed,
        settings.learning_rate,
        settings.warmup,
        on_step=on_step,
    )
    batch = tasks.sample(task, settings.eval_sequences, eval_rng)
    preds, trace = evaluate(model, batch.tokens)
    result = {
        "loss": _loss_curve(losses),
        "metrics": _recall_metrics(preds, batch, config.receptive_field),
        "memory": _memory_summary(trace, batch),
    }
    if trace is not None and settings.task == "forgetting":
        result["dynamics"] = _dynamics(trace, batch)
    return result


def _continual(settings, config, model, seed, train_rng, eval_rng, on_step) -> dict:
    recall_tasks = settings.recall_tasks()
    per_task = settings.steps // settings.n_tasks
    evals = [tasks.sample(t, settings.eval_sequences, eval_rng) for t in recall_tasks]
    checkpoints = {
        i * per_task + round(k * per_task / settings.evals_per_task)
        for i in range(settings.n_tasks)
        for k in range(1, settings.evals_per_task + 1)
    }
    curve = {"step": [], "accuracy": []}

    def step_and_evaluate(step: int, loss: float) -> None:
        on_step(step, loss)
        if step + 1 in checkpoints:
            curve["step"].append(step + 1)
            curve["accuracy"].append(
                [float(item_correct(evaluate(model, b.tokens)[0], b)[0].mean()) for b in evals]
            )

    stream = chain.from_iterable(_batches(t, settings, per_task, train_rng) for t in recall_tasks)
    losses = train(
        model,
        config,
        stream,
        seed,
        settings.learning_rate,
        settings.warmup,
        on_step=step_and_evaluate,
    )
    acc = np.asarray(curve["accuracy"])  # (evaluations, tasks)
    at_boundary = acc[[curve["step"].index((i + 1) * per_task) for i in range(settings.n_tasks)]]
    final = at_boundary[-1]
    # Forgetting of task i: its best accuracy at any task boundary from its own onwards, minus its final one.
    forgetting = [float(at_boundary[i:-1, i].max() - final[i]) for i in range(settings.n_tasks - 1)]
    return {
        "loss": _loss_curve(losses),
        "curve": curve,
        "metrics": {
            "final_accuracy": float(final.mean()),
            "forgetting": float(np.mean(forgetting)),
            "final_by_task": final.tolist(),
            "forgetting_by_task": forgetting,
        },
    }


def _dynamics(trace: dict, batch: tasks.Batch, example: int = 0) -> dict:
    """Survival curves per role, slot lifetimes, read entropy over time and one example's heatmaps."""
    omega = trace["write_weights"]
    horizon = omega.shape[1]
    roles = (
        tasks.KEY,
        tasks.VALUE,
        tasks.DISTRACTOR_KEY,
        tasks.DISTRACTOR_VALUE,
        tasks.FILLER,
        tasks.MARK,
    )
    return {
        "survival": {
            tasks.ROLE_NAMES[r]: np.round(
                dynamics.survival_by_role(omega, batch.roles, r, horizon), 4
            ).tolist()
            for r in roles
        },
        "slot_lifetimes": dynamics.slot_lifetimes(omega).round(3).tolist(),
        "read_entropy_by_step": dynamics.read_entropy(trace["read_weights"]).round(4).tolist(),
        "example": {
            "tokens": batch.tokens[example].tolist(),
            "roles": batch.roles[example].tolist(),
            "write_weights": omega[example].round(3).tolist(),
            "read_weights": trace["read_weights"][example].mean(axis=1).round(3).tolist(),
            "adjacency": trace["adjacency"][example].round(3).tolist(),
        },
    }
