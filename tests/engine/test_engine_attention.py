"""The explicit attention path: the fused kernel's output, sinks, and the memory read-out merge."""

import mlx.core as mx
import numpy as np
import pytest

from hebbian.engine import EngineConfig, HebbianCache, Strategy, attention, explicit_attention
from hebbian.engine.attention import blocked_attention
from hebbian.engine.fastexp import exp as fast_exp


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [mx.array(rng.standard_normal(s).astype(np.float32)) for s in shapes]


@pytest.mark.parametrize("mask", [None, "causal", "array"])
def test_explicit_path_equals_the_fused_kernel(mask):
    q, k, v = _arrays(0, (2, 6, 3, 16), (2, 2, 9, 16), (2, 2, 9, 8))
    sinks = mx.array([0.5, -1.0, 2.0, 0.0, 1.0, -3.0])
    if mask == "array":  # an additive (B, 1, L, T) mask, as batched caches make
        mask = mx.where(mx.arange(9)[None] <= mx.arange(6, 9)[:, None], 0.0, -mx.inf)[None, None]
        mask = mx.concatenate([mask, mask.at[..., 0].add(-mx.inf)])
    for s in (None, sinks):
        expected = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask=mask, sinks=s)
        got, weights = explicit_attention(q, k, v, 0.25, mask, s)
        np.testing.assert_allclose(np.array(got), np.array(expected), atol=1e-5)
        # per query, summed over the two query heads of each KV head
        assert weights.shape == (2, 2, 3, 9)


@pytest.mark.parametrize("mask", [None, "causal", "array"])
def test_attention_in_blocks_of_queries_equals_one_pass(mask):
    q, k, v, m, lm = _arrays(
        3, (2, 6, 7, 16), (2, 2, 12, 16), (2, 2, 12, 8), (2, 6, 7, 8), (2, 6, 7)
    )
    if mask == "array":  # additive, (B, H, L, T), a different row per head
        mask = mx.where(mx.arange(12)[None] <= mx.arange(5, 12)[:, None], 0.0, -mx.inf)[None, None]
        mask = mx.broadcast_to(mask, (2, 6, 7, 12)).at[:, 1:3, :, 0].add(-mx.inf)
    sinks = mx.array([0.5, -1.0, 2.0, 0.0, 1.0, -3.0])
    expected = explicit_attention(q, k, v, 0.25, mask, sinks, (m, lm))
    # blocks of 3, 3 and 1 queries
    got = blocked_attention(q, k, v, 0.25, mask, sinks, (m, lm), block=3)
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-6)


def test_memory_read_out_merges_as_if_its_keys_were_in_the_softmax():
    q, k, v, k_old, v_old = _arrays(
        1, (1, 4, 2, 8), (1, 2, 5, 8), (1, 2, 5, 8), (1, 2, 3, 8), (1, 2, 3, 8)
    )

    class Exact(Strategy):  # a "memory" that attends exactly to three older tokens
        reads = True

        def consolidate(self, layer, batch):
            pass

        def memory_state(self, layer):
            return {}

        @staticmethod
        def read_state(state, queries, scale):
            scores = (queries * scale).reshape(1, 2, 2, 2, 8) @ mx.expand_dims(k_old, 2).swapaxes(
                -1, -2
            )
            log_mass = mx.logsumexp(scores, axis=-1)
            out = mx.softmax(scores, axis=-1) @ mx.expand_dims(v_old, 2)
            return out.reshape(1, 4, 2, 8), log_mass.reshape(1, 4, 2)

    config = EngineConfig(window=16, positions="original")
    cache = HebbianCache(config, strategy=Exact(config))
    keys, values = cache.update_and_fetch(k, v)
    got = attention(q, keys, values, cache, 0.3, "causal")
    everything = mx.concatenate([k_old, k], axis=2), mx.concatenate([v_old, v], axis=2)
    expected, weights = explicit_attention(q, *everything, 0.3, "causal")
    np.testing.assert_allclose(np.array(got), np.array(expected), atol=1e-5)
    np.testing.assert_allclose(
        np.array(cache.held("importance")), np.array(weights.sum(axis=2)[..., 3:]), atol=1e-5
    )


def test_a_read_out_of_none_keeps_the_fused_path_when_not_tracking():
    q, k, v = _arrays(2, (1, 2, 1, 8), (1, 2, 4, 8), (1, 2, 4, 8))

    class Empty(Strategy):
        reads = True

        def consolidate(self, *args):
            pass

        def memory_state(self, layer):
            return None

    config = EngineConfig(window=16, positions="original", track_importance=False, mode="memory")
    cache = HebbianCache(config, strategy=Empty(config))
    keys, values = cache.update_and_fetch(k, v)
    got = attention(q, keys, values, cache, 0.3, None)
    assert mx.array_equal(got, mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask=None))
    assert not np.array(cache.held("importance")).any()


def test_fast_exp_is_exp_to_float32_precision():
    x = np.concatenate([np.linspace(-87, 80, 2001), [0.0, -np.inf]]).astype(np.float32)
    got = np.array(fast_exp(mx.array(x)), dtype=np.float64)
    exact = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(got[:-2], exact[:-2], rtol=1e-5, atol=0)
    assert got[-2] == 1.0 and got[-1] == 0.0  # a row's maximum, a masked score
    # the explicit path's mask value
    masked = np.array(fast_exp(mx.array([float(np.finfo(np.float32).min)])))
    assert masked[0] == 0.0 and np.isfinite(masked).all()
