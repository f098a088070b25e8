"""Training and evaluation of any of the compared models on recall batches.

Every model is called as ``model(tokens, key) -> (logits, aux)``; MemNet's aux feeds the
composite loss, a baseline's is None and it trains on the task loss alone. Seeds fix the
initialisation and the random read policy; the data stream is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from .config import MemNetConfig
from .losses import composite_loss
from .tasks import Batch

EVAL_KEY = 0  # the random read policy's draws at evaluation, the same for every model
TRACE_FIELDS = ("write_weights", "read_weights", "write_gates", "policy", "adjacency")


def train(
    model: nn.Module,
    config: MemNetConfig,
    batches: Iterable[Batch],
    seed: int,
    learning_rate: float = 3e-3,
    warmup: int = 100,
    clip: float = 1.0,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Adam on the composite loss over ``batches``; returns the loss of every step.

    The learning rate rises linearly over ``warmup`` steps. Without it the controller's
    states collapsed onto one shared vector within ~5 steps while the loss fell to the
    answer prior, and the memory gates, fed that vector, saturated shut.
    ``on_step(step, loss)`` is called after each update (progress bars, evaluations).
    """
    schedule = (
        optim.linear_schedule(learning_rate / warmup, learning_rate, warmup)
        if warmup
        else learning_rate
    )
    optimizer = optim.Adam(schedule)

    def loss_fn(model, tokens, targets, key):
        logits, aux = model(tokens, key)
        return composite_loss(logits, targets, aux, config)[0]

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    losses = []
    for step, batch in enumerate(batches):
        key = mx.random.key(seed * 1_000_003 + step)
        loss, grads = loss_and_grad(model, mx.array(batch.tokens), mx.array(batch.targets), key)
        grads, _ = optim.clip_grad_norm(grads, clip)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


def evaluate(
    model: nn.Module, tokens: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, dict | None]:
    """Greedy predictions (B, T) and, for a MemNet, its memory trace as numpy arrays (else None).

    The trace holds ``write_weights`` (B, T, N), ``read_weights`` (B, T, H_r, N),
    ``write_gates`` (B, T, H_w), ``policy`` (B, T, H_r, 3) and ``adjacency`` (B, N, N).
    """
    preds, traces = [], []
    for start in range(0, len(tokens), chunk):
        logits, aux = model(mx.array(tokens[start : start + chunk]), mx.random.key(EVAL_KEY))
        preds.append(np.array(logits.argmax(axis=-1)))
        if aux is not None:
            traces.append({name: np.array(getattr(aux.trace, name)) for name in TRACE_FIELDS})
    trace = (
        {name: np.concatenate([t[name] for t in traces]) for name in TRACE_FIELDS}
        if traces
        else None
    )
    return np.concatenate(preds), trace


def item_correct(preds: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Whether each queried item of ``batch`` is answered right by ``preds``, and its distance."""
    asked = batch.targets >= 0
    return preds[asked] == batch.targets[asked], batch.distances[asked]
