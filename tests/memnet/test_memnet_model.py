"""MemNet end to end: shapes, causality, bounded context and memory, ablations, baselines."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from hebbian.memnet import ABLATIONS, MemNet, MemNetConfig
from hebbian.memnet.baselines import (
    LSTMLM,
    count_parameters,
    lstm_baseline,
    transformer_baseline,
)
from hebbian.memnet.controller import band_attention
from hebbian.memnet.losses import composite_loss

VOCAB = 20
SMALL = dict(vocab_size=VOCAB, d_model=16, n_heads=2, slot_dim=8, n_slots=6, dream_every=3)


def tokens(batch=2, steps=14, seed=0):
    return mx.array(np.random.default_rng(seed).integers(0, VOCAB, (batch, steps)))


def model(**overrides):
    """A small MemNet whose output depends on its memory from the start.

    A fresh MemNet's fusion ignores the reads (those weights start at zero), which would
    make tests of the memory's effect on the output vacuous.
    """
    mx.random.seed(0)
    net = MemNet(MemNetConfig(**{**SMALL, **overrides}))
    net.fusion.from_reads.weight = mx.random.normal(
        net.fusion.from_reads.weight.shape, key=mx.random.key(1)
    )
    return net


@pytest.mark.parametrize(
    "heads", [dict(read_heads=1, write_heads=1), dict(read_heads=3, write_heads=2)]
)
def test_shapes(heads):
    net = model(**heads)
    logits, aux = net(tokens())
    cfg = net.config
    assert logits.shape == (2, 14, VOCAB)
    assert aux.trace.reads.shape == (2, 14, cfg.read_heads, cfg.slot_dim)
    assert aux.trace.read_weights.shape == (2, 14, cfg.read_heads, cfg.n_slots)
    assert aux.trace.write_weights.shape == (2, 14, cfg.n_slots)
    assert aux.trace.write_gates.shape == (2, 14, cfg.write_heads)
    assert aux.trace.policy.shape == (2, 14, cfg.read_heads, 3)
    assert aux.trace.adjacency.shape == (2, cfg.n_slots, cfg.n_slots)
    assert aux.hallucination.shape == aux.embedded.shape == (2, 14, cfg.d_model)


@pytest.mark.parametrize("variant", ["memnet", *ABLATIONS])
def test_changing_a_future_token_never_changes_an_earlier_output(variant):
    net = model(**({} if variant == "memnet" else ABLATIONS[variant]))
    x = np.array(tokens(steps=16))
    key = mx.random.key(7)
    for t in (3, 9, 15):
        y = x.copy()
        y[:, t] = (y[:, t] + 1) % VOCAB
        a, _ = net(mx.array(x), key)
        b, _ = net(mx.array(y), key)
        np.testing.assert_allclose(np.array(a[:, :t]), np.array(b[:, :t]), atol=1e-5)
        assert not np.allclose(np.array(a[:, t]), np.array(b[:, t]), atol=1e-5)


def test_the_controller_alone_sees_only_its_receptive_field():
    cfg = MemNetConfig(**SMALL)
    mx.random.seed(0)
    baseline = transformer_baseline(cfg, 5000)
    x = np.array(tokens(steps=16))
    y = x.copy()
    y[:, 0] = (y[:, 0] + 1) % VOCAB
    a, _ = baseline(mx.array(x))
    b, _ = baseline(mx.array(y))
    reach = cfg.receptive_field
    assert not np.allclose(np.array(a[:, reach - 1]), np.array(b[:, reach - 1]), atol=1e-5)
    np.testing.assert_allclose(np.array(a[:, reach:]), np.array(b[:, reach:]), atol=1e-5)


def test_band_attention_equals_masked_softmax_attention():
    q, k, v = (mx.random.normal((2, 3, 9, 4), key=mx.random.key(i)) for i in range(3))
    window = 3
    t = np.arange(9)
    mask = np.where((t[:, None] - t[None] >= 0) & (t[:, None] - t[None] < window), 0.0, -np.inf)
    scores = np.array(q @ k.swapaxes(-1, -2)) / 2 + mask
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    expected = (weights / weights.sum(-1, keepdims=True)) @ np.array(v)
    np.testing.assert_allclose(
        np.array(band_attention(q, k, v, window)), expected, rtol=1e-5, atol=1e-6
    )


def test_memory_stays_bounded_and_the_graph_row_stochastic_at_most():
    net = model()
    _, aux = net(tokens(steps=40))
    assert np.abs(np.array(aux.trace.reads)).max() <= 1 + 1e-5  # convex writes of tanh values
    assert np.array(aux.trace.adjacency).sum(axis=-1).max() <= 1 + 1e-5
    omega = np.array(aux.trace.write_weights)
    assert (omega >= 0).all() and omega.sum(axis=-1).max() <= 1 + 1e-5


@pytest.mark.parametrize("variant", list(ABLATIONS))
def test_each_ablation_changes_the_output_of_the_same_weights(variant):
    full = model()
    ablation = model(**ABLATIONS[variant])
    # shared weights only
    ablation.load_weights(list(tree_flatten(full.parameters())), strict=False)
    a, _ = full(tokens(steps=20))
    b, _ = ablation(tokens(steps=20))
    assert not np.allclose(np.array(a), np.array(b), atol=1e-5)


def test_graph_off_leaves_the_adjacency_empty():
    _, aux = model(alpha=0.0)(tokens())
    assert np.array(aux.trace.adjacency).max() == 0


def test_every_parameter_gets_a_finite_gradient():
    net = model()
    x = tokens()
    targets = mx.where(mx.arange(14) % 4 == 3, x, -1)

    def loss_fn(net):
        logits, aux = net(x)
        return composite_loss(logits, targets, aux, net.config)[0]

    _, grads = nn.value_and_grad(net, loss_fn)(net)
    flat = tree_flatten(grads)
    assert flat and all(np.isfinite(np.array(g)).all() for _, g in flat)


def test_baselines_match_the_memnet_budget():
    cfg = MemNetConfig(vocab_size=34)
    budget = count_parameters(MemNet(cfg))
    for baseline in (transformer_baseline(cfg, budget), lstm_baseline(cfg, budget)):
        assert abs(count_parameters(baseline) - budget) / budget < 0.05
    assert isinstance(lstm_baseline(cfg, budget), LSTMLM)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(top_k=10), "top_k"),
        (dict(policy="greedy"), "policy"),
        (dict(alpha=1.5), "alpha"),
        (dict(d_model=15), "multiple of n_heads"),
        (dict(n_slots=0), "n_slots"),
    ],
)
def test_config_errors_name_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        MemNetConfig(**{**SMALL, **bad})
