"""The timeline (timeline.py): one set of counters for a model's caches, moved once per pass."""

import gc
import weakref

import mlx.core as mx
import pytest
from gguf_fixtures import tiny_model

from hebbian.engine import EngineConfig, HebbianCache, make_cache, patched


@pytest.fixture(scope="module")
def model():
    return tiny_model("llama", num_hidden_layers=3)


def test_a_models_caches_share_one_timeline(model):
    cache = make_cache(model, EngineConfig(window=8, n_sink=2))
    timeline = cache[0].timeline
    assert all(c.timeline is timeline for c in cache) and timeline.caches == cache


def test_dropped_caches_free_their_buffers_without_the_cycle_collector(model):
    # a cycle (caches -> timeline -> caches) kept a dropped engine's buffers until gc ran
    cache = make_cache(model, EngineConfig(window=8, n_sink=2, mode="slots"))
    with patched(model):
        model(mx.array([[1, 2, 3, 4]]), cache=cache)
    dropped = [weakref.ref(c) for c in cache] + [weakref.ref(cache[0].timeline)]
    gc.disable()
    try:
        del cache
        assert [r() for r in dropped] == [None] * len(dropped)
    finally:
        gc.enable()


@pytest.mark.parametrize("positions", ["cache", "original"])
def test_every_layer_of_a_pass_reads_the_counters_from_before_it(model, monkeypatch, positions):
    config = EngineConfig(window=8, n_sink=2, hand_over=2, positions=positions, mode="off")
    cache = make_cache(model, config)
    seen_by, update = [], HebbianCache.update_and_fetch

    def spy(self, keys, values):
        seen_by.append((self.layer, self.offset, self.seen, self.evicted))
        return update(self, keys, values)

    monkeypatch.setattr(HebbianCache, "update_and_fetch", spy)
    seen = 0
    with patched(model):
        for L in [5, 1, 7, 1, 1, 3, 1, 1, 1]:
            before = (cache[0].offset, cache[0].seen, cache[0].evicted)
            seen_by.clear()
            mx.eval(model(mx.arange(3, 3 + L)[None], cache=cache))
            assert seen_by == [(i, *before) for i in range(3)]  # each layer, once, unmoved
            seen += L
            assert cache[0].seen == seen and cache[0].timeline.step is None
            assert all(c.size() == min(seen, config.capacity) for c in cache)


def test_a_layer_given_other_tokens_than_its_pass_is_refused(model):
    cache = make_cache(model, EngineConfig(window=8, n_sink=2))
    k = mx.zeros((1, 2, 2, 16))
    cache[0].update_and_fetch(k, k)
    with pytest.raises(RuntimeError, match="layer 1 was given 3 tokens in a step of 2"):
        cache[1].update_and_fetch(mx.zeros((1, 2, 3, 16)), mx.zeros((1, 2, 3, 16)))
    with pytest.raises(RuntimeError, match="patched"):  # layer 0 again: attention never ran
        cache[0].update_and_fetch(k, k)
