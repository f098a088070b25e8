"""The composite loss: utilization is maximal for uniform addressing, the task loss masks, parts add up."""

import math

import mlx.core as mx
import numpy as np
import pytest

from hebbian.memnet import MemNet, MemNetConfig
from hebbian.memnet.losses import (
    composite_loss,
    task_loss,
    usage_entropy,
    utilization_loss,
)

N = 6


def test_utilization_is_maximal_for_uniform_addressing():
    rng = np.random.default_rng(0)
    uniform = mx.full((4, 10, N), 1 / N)
    assert usage_entropy(uniform).item() == pytest.approx(math.log(N), rel=1e-5)
    for _ in range(20):
        other = mx.array(rng.dirichlet(np.ones(N) * 0.5, size=(4, 10)).astype(np.float32))
        assert usage_entropy(other).item() < math.log(N)
        assert utilization_loss(other).item() > utilization_loss(uniform).item()
    assert utilization_loss(uniform).item() == pytest.approx(0, abs=1e-5)


def test_utilization_loss_is_log_n_when_one_slot_takes_everything():
    collapsed = mx.array(np.tile(np.eye(N, dtype=np.float32)[2], (3, 5, 1)))
    assert utilization_loss(collapsed).item() == pytest.approx(math.log(N), rel=1e-4)


def test_utilization_counts_usage_over_steps_not_per_read():
    # Every read is sharp, but all slots take turns: usage is uniform, so no penalty.
    sharp_turns = mx.array(np.tile(np.eye(N, dtype=np.float32), (2, 1, 1)))
    assert utilization_loss(sharp_turns).item() == pytest.approx(0, abs=1e-5)


def test_task_loss_ignores_positions_without_a_target():
    logits = mx.array(np.random.default_rng(1).normal(size=(2, 5, 7)).astype(np.float32))
    targets = mx.array([[-1, -1, 3, -1, 6], [-1, 0, -1, -1, -1]])
    log_p = np.array(logits) - np.log(np.exp(np.array(logits)).sum(-1, keepdims=True))
    expected = -np.mean([log_p[0, 2, 3], log_p[0, 4, 6], log_p[1, 1, 0]])
    assert task_loss(logits, targets).item() == pytest.approx(expected, rel=1e-5)


def test_composite_loss_adds_the_weighted_parts():
    cfg = MemNetConfig(
        vocab_size=12,
        d_model=8,
        n_heads=2,
        slot_dim=8,
        n_slots=4,
        lambda_hallucination=0.5,
        lambda_utilization=0.25,
        lambda_sparsity=2.0,
    )
    mx.random.seed(0)
    x = mx.array(np.random.default_rng(0).integers(0, 12, (2, 9)))
    targets = mx.where(mx.arange(9) == 8, x, -1)
    logits, aux = MemNet(cfg)(x)
    total, parts = composite_loss(logits, targets, aux, cfg)
    expected = (
        parts["task"]
        + 0.5 * parts["hallucination"]
        + 0.25 * parts["utilization"]
        + 2.0 * parts["sparsity"]
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(parts) == {"task", "hallucination", "utilization", "sparsity"}


def test_models_without_memory_train_on_the_task_loss_alone():
    logits = mx.zeros((1, 3, 4))
    targets = mx.array([[-1, 2, -1]])
    total, parts = composite_loss(logits, targets, None, None)
    assert set(parts) == {"task"} and total.item() == pytest.approx(math.log(4), rel=1e-6)
