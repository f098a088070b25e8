"""The composite objective L_task + l1 L_hallucination + l2 L_utilization + l3 L_sparsity.

- L_task: cross-entropy on the positions that carry a target (others are marked -1).
- L_hallucination: MSE between the input embeddings rebuilt from the reads and the real ones.
- L_utilization: how far slot usage is from uniform, log N - H(usage), where usage is the
  write and read mass per slot averaged over batch, steps and heads. ``usage_entropy`` is
  the utilization itself: maximal (log N) for uniform addressing, so the loss is 0 there.
  It counters addressing collapse (a few slots doing all the work) without asking any
  single read to be diffuse.
- L_sparsity: the mean write gate: the controller should write only when it has to.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from .config import MemNetConfig
from .model import MemNetAux


def task_loss(logits: mx.array, targets: mx.array) -> mx.array:
    """Mean cross-entropy over positions whose target is >= 0."""
    mask = targets >= 0
    losses = nn.losses.cross_entropy(logits, mx.maximum(targets, 0), reduction="none")
    return (losses * mask).sum() / mx.maximum(mask.sum(), 1)


def usage_entropy(weights: mx.array) -> mx.array:
    """Entropy (nats) of the average addressing distribution: weights (..., N) over all leading axes."""
    usage = weights.reshape(-1, weights.shape[-1]).mean(axis=0)
    usage = usage / mx.maximum(usage.sum(), 1e-9)
    return -(usage * mx.log(usage + 1e-9)).sum()


def utilization_loss(weights: mx.array) -> mx.array:
    """log N - usage_entropy(weights): 0 for uniform usage, log N when one slot takes everything."""
    return math.log(weights.shape[-1]) - usage_entropy(weights)


def composite_loss(
    logits: mx.array, targets: mx.array, aux: MemNetAux | None, config: MemNetConfig | None
) -> tuple[mx.array, dict[str, mx.array]]:
    """Total loss and its parts; models without memory (aux None) get the task loss alone."""
    task = task_loss(logits, targets)
    if aux is None:
        return task, {"task": task}
    trace = aux.trace
    parts = {
        "task": task,
        "hallucination": mx.mean((aux.hallucination - aux.embedded) ** 2),
        "utilization": 0.5
        * (utilization_loss(trace.write_weights) + utilization_loss(trace.read_weights)),
        "sparsity": trace.write_gates.mean(),
    }
    total = (
        task
        + config.lambda_hallucination * parts["hallucination"]
        + config.lambda_utilization * parts["utilization"]
        + config.lambda_sparsity * parts["sparsity"]
    )
    return total, parts
