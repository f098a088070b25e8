"""A tiny MemNet learns to recall a value from beyond its controller's reach (seeded, a few seconds)."""

import mlx.core as mx
import numpy as np
from scipy import stats

from hebbian.memnet import MemNet, MemNetConfig, tasks
from hebbian.memnet.train import evaluate, item_correct, train


def test_a_tiny_memnet_recalls_beyond_its_reach_above_chance():
    vocab = tasks.Vocabulary(n_fillers=4, n_keys=4, n_values=4)
    task = tasks.RecallTask(vocab, story_length=10, n_pairs=1)
    config = MemNetConfig(
        vocab_size=vocab.size,
        d_model=16,
        n_heads=2,
        n_layers=1,
        window=2,
        n_slots=4,
        slot_dim=16,
        read_heads=1,
        top_k=2,
    )
    mx.random.seed(0)
    model = MemNet(config)
    rng = np.random.default_rng(0)
    train(model, config, (tasks.sample(task, 32, rng) for _ in range(150)), seed=0, warmup=20)

    batch = tasks.sample(task, 400, np.random.default_rng(1))
    correct, distances = item_correct(evaluate(model, batch.tokens)[0], batch)
    beyond = correct[distances > config.receptive_field]
    assert len(beyond) > 300
    test = stats.binomtest(
        int(beyond.sum()), len(beyond), tasks.chance(task), alternative="greater"
    )
    assert beyond.mean() > tasks.chance(task) + 0.15 and test.pvalue < 1e-6
