"""Training by backpropagation: AdamW, gradient clipping, warm-up then cosine (or constant)
learning rate, and evaluation on held-out data with dropout off."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from .data import ByteData
from .model import BDH

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    block_size: int = 128
    learning_rate: float = 3e-3
    min_lr_fraction: float = 0.1  # cosine ends at learning_rate * this
    warmup_steps: int = 50
    schedule: str = "cosine"
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 100
    eval_batches: int = 8
    seed: int = 1337

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("steps", "batch_size", "block_size", "eval_interval", "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size


def learning_rate(cfg: TrainConfig):
    """The schedule as a function of the step, for mlx.optimizers."""
    warmup = min(cfg.warmup_steps, cfg.steps - 1)
    if cfg.schedule == "constant":

        def main(_):
            return mx.array(cfg.learning_rate)

    else:
        main = optim.cosine_decay(
            cfg.learning_rate, max(cfg.steps - warmup, 1), cfg.learning_rate * cfg.min_lr_fraction
        )
    if warmup < 1:
        return main
    return optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.learning_rate, warmup), main], [warmup]
    )


def loss_fn(model: BDH, x: mx.array, y: mx.array) -> mx.array:
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class Trainer:
    """One optimizer and its step for a model; the caller supplies the batches."""

    def __init__(self, model: BDH, cfg: TrainConfig):
        self.model, self.cfg = model, cfg
        self.optimizer = optim.AdamW(
            learning_rate=learning_rate(cfg), weight_decay=cfg.weight_decay
        )
        self._loss_and_grad = nn.value_and_grad(model, loss_fn)

    def step(self, x: mx.array, y: mx.array) -> float:
        self.model.train()
        loss, grads = self._loss_and_grad(self.model, x, y)
        grads, _ = optim.clip_grad_norm(grads, self.cfg.grad_clip)
        self.optimizer.update(self.model, grads)
        mx.eval(loss, self.model.parameters(), self.optimizer.state)
        return loss.item()


def evaluate(model: BDH, batches: Iterable[tuple[mx.array, mx.array]]) -> float:
    """Mean cross-entropy (nats per byte) over ``batches``, with dropout off."""
    was_training = model.training
    model.eval()
    losses = [loss_fn(model, x, y).item() for x, y in batches]
    model.train(was_training)
    return float(np.mean(losses))


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one row per evaluation
    wall_s: float = 0.0
    tokens: int = 0

    @property
    def final_val_loss(self) -> float:
        return self.history[-1]["val_loss"]


def fit(
    model: BDH,
    data: ByteData,
    cfg: TrainConfig,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` for ``cfg.steps`` steps, evaluating every ``eval_interval`` and at the end."""
    rng = np.random.default_rng(cfg.seed)
    val = data.val_batches(cfg.eval_batches, cfg.batch_size, cfg.block_size)
    trainer = Trainer(model, cfg)
    result, recent, start = TrainResult(), [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        recent.append(trainer.step(*data.batch(rng, cfg.batch_size, cfg.block_size)))
        if on_step:
            on_step(step, recent[-1])
        if step % cfg.eval_interval == 0 or step == cfg.steps:
            result.history.append(
                {
                    "step": step,
                    "train_loss": float(np.mean(recent)),
                    "val_loss": evaluate(model, val),
                    "elapsed_s": time.perf_counter() - start,
                }
            )
            recent = []
    result.wall_s = time.perf_counter() - start
    result.tokens = cfg.steps * cfg.tokens_per_step
    return result
