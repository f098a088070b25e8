"""HebbianCache with the engine's attention: exactness, bounds, importance, eviction, positions."""

import gguf
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf_fixtures import tiny_model, write_gguf
from mlx_lm.generate import stream_generate
from mlx_lm.models.cache import KVCache, RotatingKVCache
from mlx_lm.models.rope_utils import DynamicNTKScalingRoPE, Llama3RoPE, SuScaledRoPE

from hebbian.engine import (
    EngineConfig,
    HebbianCache,
    Strategy,
    attention,
    make_cache,
    patched,
    prefill,
)
from hebbian.engine.rope import Rotary
from hebbian.engine.timeline import Timeline
from hebbian.models.gguf_tokenizer import build_tokenizer

VOCAB = 250


def tokens(n: int, seed: int = 0) -> mx.array:
    return mx.array(np.random.default_rng(seed).integers(0, VOCAB, n))


def feed(model, cache, ids: mx.array, chunks) -> list[mx.array]:
    """Logits of each chunk of `ids`, fed in the given chunk sizes with the engine attached."""
    out, start = [], 0
    with patched(model):
        for size in chunks:
            out.append(model(ids[None, start : start + size], cache=cache))
            mx.eval(out[-1], [c.state for c in cache])
            start += size
    return out


class Recorder(Strategy):
    """A strategy that keeps every evicted batch, per layer."""

    def __init__(self):
        super().__init__(EngineConfig())
        self.batches = {}

    def consolidate(self, layer, batch):
        self.batches.setdefault(layer, []).append(batch)

    def evicted(self, layer: int, field: str) -> np.ndarray:
        return np.concatenate(
            [np.array(getattr(b, field)) for b in self.batches.get(layer, [])], axis=2
        )


# --- exactness while nothing is evicted -------------------------------------------------------


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
@pytest.mark.parametrize("positions", ["cache", "original"])
@pytest.mark.parametrize("track", [True, False])
def test_matches_plain_kv_cache_for_prefill_and_decode(model_type, positions, track):
    model = tiny_model(model_type)
    ids = tokens(30)
    chunks = [20] + [1] * 10
    expected = feed(model, [KVCache() for _ in model.layers], ids, chunks)
    config = EngineConfig(window=32, n_sink=2, positions=positions, track_importance=track)
    got = feed(model, make_cache(model, config), ids, chunks)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-4, rtol=1e-4)


def test_gemma3_keeps_its_sliding_window_caches_and_matches():
    model = tiny_model("gemma3_text")
    ids = tokens(14)
    cache = make_cache(model, EngineConfig(window=32, n_sink=2))
    assert [type(c) for c in cache] == [RotatingKVCache] * 5 + [HebbianCache]
    expected = feed(model, model.make_cache(), ids, [10, 1, 1, 1, 1])
    got = feed(model, cache, ids, [10, 1, 1, 1, 1])
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-4, rtol=1e-4)


# --- bounds and hand-over -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(window=48, n_sink=4, positions="cache", keep_important=8),
        EngineConfig(window=40, n_sink=3, positions="original", track_importance=False),
    ],
)
def test_cache_stays_bounded_over_5000_tokens(config, monkeypatch):
    fetched = []
    update = HebbianCache.update_and_fetch

    def spy(self, keys, values):
        out = update(self, keys, values)
        fetched.append((out[0].shape[2], keys.shape[2]))
        return out

    monkeypatch.setattr(HebbianCache, "update_and_fetch", spy)
    monkeypatch.setattr(Timeline, "REBASE_AT", 256)
    model, recorder = tiny_model("llama"), Recorder()
    cache = make_cache(model, config, recorder)
    sizes = [1, 3, 64, 17, 200, 2, 5, 130] * 12
    sizes[-1] += 5000 - sum(sizes)
    ids = tokens(5000)
    start, nbytes = 0, []
    with patched(model):
        for size in sizes:
            mx.eval(model(ids[None, start : start + size], cache=cache), [c.state for c in cache])
            start += size
            assert all(c.size() == min(start, config.capacity) for c in cache)
            nbytes.append(cache[0].nbytes)
    # attention reads the tokens held, the new ones, and the ring's masked pending and free slots
    assert all(read <= config.capacity + config.hand_over - 1 + new for read, new in fetched)
    # storage is allocated once for steps up to prefill_chunk tokens (512 here); under positions="cache"
    # the un-rotated keys of the sinks and heavy hitters join it as they arrive (within the first 3 steps)
    assert len(set(nbytes[2:])) == 1
    for layer, c in enumerate(cache):
        assert c.seen == 5000 and c.evicted == 5000 - config.capacity
        assert c.offset == 5000 if config.positions == "original" else c.offset < 256 + 200
        kept, evicted = np.array(c.held("positions")), recorder.evicted(layer, "positions")
        assert np.array_equal(
            np.sort(np.concatenate([kept, evicted], axis=2), axis=2),
            np.broadcast_to(np.arange(5000), kept.shape[:2] + (5000,)),
        )


class Reference:
    """Attention with K/V repeated per query head and an oldest-first sinks+window cache, in numpy."""

    def __init__(self, n_sink: int, window: int):
        self.n_sink, self.window = n_sink, window
        self.K = self.V = self.importance = self.positions = None
        self.evicted = []

    def step(self, q, k, v, scale, first_position):
        q, k, v = (np.array(x, dtype=np.float64) for x in (q, k, v))
        L = k.shape[2]
        new = (k, v, np.zeros(k.shape[:3]), np.arange(first_position, first_position + L))
        if self.K is None:
            self.K, self.V, self.importance, self.positions = new
        else:
            self.K, self.V, self.importance = (
                np.concatenate([a, b], axis=2)
                for a, b in zip((self.K, self.V, self.importance), new)
            )
            self.positions = np.concatenate([self.positions, new[3]])
        B, n_kv, T, _ = self.K.shape
        rep = q.shape[1] // n_kv
        scores = q @ np.repeat(self.K, rep, axis=1).swapaxes(-1, -2) * scale
        scores = np.where(np.arange(T)[None] <= np.arange(T - L, T)[:, None], scores, -np.inf)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out = p @ np.repeat(self.V, rep, axis=1)
        self.importance += p.sum(axis=2).reshape(B, n_kv, rep, T).sum(axis=2)
        excess = T - self.n_sink - self.window
        if excess > 0:
            gone = slice(self.n_sink, self.n_sink + excess)
            self.evicted.append(
                (
                    self.K[:, :, gone],
                    self.V[:, :, gone],
                    self.importance[..., gone],
                    self.positions[gone],
                )
            )
            keep = np.r_[0 : self.n_sink, self.n_sink + excess : T]
            self.K, self.V, self.importance = (
                x[:, :, keep] for x in (self.K, self.V, self.importance)
            )
            self.positions = self.positions[keep]
        return out


def engine_step(cache, q, k, v, scale):
    """One attention step as a model layer runs it: mask, update, attention."""
    mask = cache.make_mask(q.shape[2])
    keys, values = cache.update_and_fetch(k, v)
    return attention(q, keys, values, cache, scale, mask)


def _qkv(rng, L, B=2, n_heads=4, n_kv=2, D=8):
    return (
        mx.array(rng.standard_normal(s).astype(np.float32))
        for s in [(B, n_heads, L, D), (B, n_kv, L, D), (B, n_kv, L, D)]
    )


@pytest.mark.parametrize("window", [64, 5])
def test_importance_and_evictions_match_an_explicit_reference(window):
    rng, scale, n_sink = np.random.default_rng(1), 0.35, 2
    recorder = Recorder()
    cache = HebbianCache(
        EngineConfig(window=window, n_sink=n_sink, positions="original", hand_over=1),
        layer=3,
        strategy=recorder,
    )
    reference = Reference(n_sink, window)
    seen = 0
    for L in [5, 3, 1, 4, 1, 1, 7, 2]:
        q, k, v = _qkv(rng, L)
        out = engine_step(cache, q, k, v, scale)
        expected = reference.step(q, k, v, scale, seen)
        seen += L
        np.testing.assert_allclose(np.array(out), expected, atol=1e-5)
        np.testing.assert_allclose(
            np.array(cache.held("importance")), reference.importance, rtol=1e-5, atol=1e-5
        )
        assert np.array_equal(np.array(cache.held("positions")[0, 0]), reference.positions)
    if window >= seen:
        assert not recorder.batches
        return
    assert len(recorder.batches[3]) == len(reference.evicted)
    for got, expected in zip(recorder.batches[3], reference.evicted):
        for g, e in zip((got.keys, got.values, got.importance), expected[:3]):
            np.testing.assert_allclose(np.array(g), e, rtol=1e-5, atol=1e-5)
        assert np.array_equal(
            np.array(got.positions), np.broadcast_to(expected[3], got.positions.shape)
        )
    handed = recorder.evicted(3, "positions")[0, 0]
    assert list(handed) == list(range(n_sink, seen - window))  # in order, sinks never included


def test_heavy_hitters_are_kept_per_head_and_the_rest_handed_over():
    rng, D = np.random.default_rng(2), 8
    recorder = Recorder()
    config = EngineConfig(window=6, n_sink=1, keep_important=2, positions="original")
    cache = HebbianCache(config, strategy=recorder)
    u = np.zeros(D, np.float32)
    u[0] = 1.0
    seen = 0
    for L in [4, 1, 1, 3, 1, 1, 1, 2, 1, 1, 1]:
        q, k, v = (np.array(x) for x in _qkv(rng, L, B=1, n_heads=2, n_kv=2, D=D))
        q[:, 0] = 4 * u  # head 0 always looks for u ...
        k[:, 0, :, 0] = 0
        if seen <= 2 < seen + L:
            k[:, 0, 2 - seen] = 4 * u  # ... which only position 2 holds
        engine_step(cache, mx.array(q), mx.array(k), mx.array(v), 1.0)
        seen += L
    kept = np.array(cache.held("positions"))[0]
    assert 2 in kept[0] and 2 not in kept[1]
    for head in (0, 1):
        assert kept[head][0] == 0 and list(kept[head][-4:]) == list(range(seen - 4, seen))
        evicted = recorder.evicted(0, "positions")[0, head]
        assert np.array_equal(np.sort(np.concatenate([kept[head], evicted])), np.arange(seen))
        assert 0 not in evicted
    # each batch lists its tokens in sequence order
    assert all(np.all(np.diff(np.array(b.positions), axis=-1) > 0) for b in recorder.batches[0])


# --- position schemes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, keep_important",
    [
        ({}, 0),
        ({"rope_traditional": True}, 0),
        (
            {
                "rope_scaling": {
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 32,
                }
            },
            0,
        ),
        ({"num_key_value_heads": 1}, 2),  # one KV head: its heavy hitters are everyone's
    ],
)
def test_cache_positions_equal_recomputing_the_kept_tokens_from_scratch(overrides, keep_important):
    # In a one-layer model a token's K/V do not depend on its context, so StreamingLLM's
    # cache is exactly the kept tokens run afresh at their places in the cache.
    model = tiny_model("llama", num_hidden_layers=1, **overrides)
    ids = tokens(31, seed=3)
    config = EngineConfig(
        window=5, n_sink=2, positions="cache", keep_important=keep_important, mode="off"
    )
    cache = make_cache(model, config)
    feed(model, cache, ids, [7, 1, 3, 1, 1, 4, 1, 6, 1, 1, 2, 2])
    kept = np.array(cache[0].held("positions")[0, 0])
    assert (
        len(kept) == 7
        and list(kept[:2]) == [0, 1]
        and list(kept[-5 + keep_important :]) == list(range(25 + keep_important, 30))
    )
    got = feed(model, cache, ids[-1:], [1])[0]
    fresh = model(mx.concatenate([ids[mx.array(kept)], ids[-1:]])[None], cache=[KVCache()])
    np.testing.assert_allclose(np.array(got[0, -1]), np.array(fresh[0, -1]), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("track", [True, False])
def test_original_positions_match_mlx_lm_rotating_cache_in_decoding(track):
    model, (n_sink, window) = tiny_model("llama"), (2, 8)
    ids = tokens(30, seed=4)
    expected = feed(
        model,
        [RotatingKVCache(max_size=n_sink + window + 1, keep=n_sink) for _ in model.layers],
        ids,
        [1] * 30,
    )
    config = EngineConfig(
        window=window, n_sink=n_sink, positions="original", track_importance=track
    )
    got = feed(model, make_cache(model, config), ids, [1] * 30)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "rope",
    [
        nn.RoPE(12, traditional=False, base=10000.0),
        nn.RoPE(16, traditional=True, base=500.0, scale=0.5),
        Llama3RoPE(
            16,
            traditional=False,
            base=10000.0,
            scaling_config={"factor": 8.0, "original_max_position_embeddings": 64},
        ),
        SuScaledRoPE(
            16,
            max_position_embeddings=8192,
            original_max_position_embeddings=1024,
            long_factor=[1.5] * 8,
        ),
    ],
)
def test_rotary_moves_keys_the_way_the_layer_rotates_them(rope):
    # Keys the model rotated at 17.. and re-rotated to 3.. equal keys the model rotated at 3..,
    # input scalings (SuScaled's mscale) included once.
    x = mx.array(np.random.default_rng(5).standard_normal((2, 3, 6, 16)).astype(np.float32))
    rotary = Rotary(rope)
    got = rotary.rotate(rotary.unrotate(rope(x, offset=17), 17), 3)
    np.testing.assert_allclose(np.array(got), np.array(rope(x, offset=3)), atol=1e-4)
    # a common shift of every row (a matrix product), far and back, and single rows (the same path)
    np.testing.assert_allclose(
        np.array(rotary.turn(rope(x, offset=5000), -4997)), np.array(rope(x, offset=3)), atol=1e-3
    )
    row = x[:, :, :1]
    np.testing.assert_allclose(
        np.array(rotary.unrotate(rope(row, offset=17), 17)),
        np.array(rope(row, offset=0)),
        atol=1e-4,
    )


def test_rotary_refuses_position_dependent_rope():
    with pytest.raises(ValueError, match="positions='original'"):
        Rotary(DynamicNTKScalingRoPE(16, 256, False, 10000.0, 2.0))


# --- mlx-lm integration and misuse -------------------------------------------------------------------


def test_stream_generate_runs_with_hebbian_caches(tmp_path):
    model = tiny_model("llama")
    write_gguf(model, tmp_path / "m.gguf", "llama")
    tokenizer = build_tokenizer(gguf.GGUFReader(str(tmp_path / "m.gguf")))
    prompt = tokens(40, seed=7)

    def generate(cache, config):
        with patched(model):
            return [
                r.token
                for r in stream_generate(
                    model,
                    tokenizer,
                    prompt,
                    max_tokens=12,
                    prompt_cache=cache,
                    prefill_step_size=config.prefill_chunk,
                )
            ]

    wide = EngineConfig(window=64, n_sink=4, prefill_chunk=16)
    assert generate(make_cache(model, wide), wide) == generate(
        [KVCache() for _ in model.layers], wide
    )
    narrow = EngineConfig(window=8, n_sink=2, prefill_chunk=16)
    cache = make_cache(model, narrow)
    assert len(generate(cache, narrow)) == 12
    assert all(c.size() == narrow.capacity for c in cache)


def test_prefill_feeds_bounded_chunks():
    model = tiny_model("qwen2")
    ids = tokens(50, seed=8)
    config = EngineConfig(window=64, n_sink=2, prefill_chunk=16)
    logits = prefill(model, ids, make_cache(model, config), config.prefill_chunk)
    expected = model(ids[None], cache=[KVCache() for _ in model.layers])[0, -1]
    np.testing.assert_allclose(np.array(logits), np.array(expected), atol=1e-4, rtol=1e-4)


def test_state_round_trip_continues_identically():
    model = tiny_model("llama")
    config = EngineConfig(window=8, n_sink=2, keep_important=2)
    cache = make_cache(model, config)
    feed(model, cache, tokens(20, seed=9), [13, 7])
    copy = [
        HebbianCache.from_state(c.state, c.meta_state, rope=layer.self_attn.rope)
        for c, layer in zip(cache, model.layers)
    ]
    assert [c.offset for c in copy] == [c.offset for c in cache]
    step = mx.array([11, 12, 13])
    assert mx.array_equal(feed(model, cache, step, [3])[0], feed(model, copy, step, [3])[0])


def test_using_the_cache_without_the_patch_fails_clearly():
    model = tiny_model("llama")
    cache = make_cache(model, EngineConfig(window=8))
    model(tokens(4)[None], cache=cache)
    with pytest.raises(RuntimeError, match="patched"):
        model(tokens(1)[None], cache=cache)


def test_sliding_window_layers_past_their_window_are_refused():
    cache = HebbianCache(EngineConfig(window=8, positions="original"))
    assert cache.make_mask(4, window_size=16) == "causal"
    with pytest.raises(ValueError, match="sliding-window"):
        cache.make_mask(20, window_size=16)


@pytest.mark.parametrize("keep_important", [0, 3])
def test_rebasing_positions_changes_nothing(monkeypatch, keep_important):
    model, ids = tiny_model("llama"), tokens(160, seed=10)
    config = EngineConfig(window=12, n_sink=2, keep_important=keep_important, mode="off")
    chunks = [20] + [1] * 60 + [30] + [1] * 50
    expected = feed(model, make_cache(model, config), ids, chunks)
    monkeypatch.setattr(Timeline, "REBASE_AT", 24)
    cache = make_cache(model, config)
    got = feed(model, cache, ids, chunks)
    assert cache[0].base > 100 and cache[0].offset < 24 + 30
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-4, rtol=1e-4)


def test_batched_hand_over_changes_when_tokens_are_handed_over_not_what(monkeypatch):
    model, ids = tiny_model("llama"), tokens(120, seed=11)
    chunks = [10] + [1] * 40 + [25] + [1] * 45
    runs = []
    for batch in (1, 6):
        recorder = Recorder()
        config = EngineConfig(window=10, n_sink=2, hand_over=batch, mode="memory")
        cache = make_cache(model, config, recorder)
        logits = feed(model, cache, ids, chunks)
        assert batch == 1 or max(c.pending for c in cache) > 0
        for c in cache:
            c.flush()
        runs.append((logits, recorder, [len(b) for b in recorder.batches.values()]))
    (single, one, n_one), (batched, six, n_six) = runs
    for e, g in zip(single, batched):  # evicted tokens leave attention at once either way
        np.testing.assert_allclose(np.array(g), np.array(e), atol=1e-5, rtol=1e-5)
    assert all(a > b for a, b in zip(n_one, n_six))  # fewer, larger batches
    for layer in (0, 1):
        for field in ("positions", "keys", "values", "importance"):
            np.testing.assert_allclose(
                six.evicted(layer, field), one.evicted(layer, field), atol=1e-5
            )
