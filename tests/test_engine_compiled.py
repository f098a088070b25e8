"""Steady decoding steps compiled whole (compiled.py) give what the model built op by op gives."""

import gguf
import mlx.core as mx
import numpy as np
import pytest
from gguf_fixtures import tiny_model, write_gguf

from hebbian.engine import MODES, EngineConfig, HebbianCache, HebbianEngine
from hebbian.models.gguf_tokenizer import build_tokenizer

PROMPT = list(range(3, 43))  # longer than the window: decoding is steady from its first token


def generate(model, tokenizer, config, compiled: bool, tokens: int = 40) -> tuple[list[int], HebbianEngine]:
    engine = HebbianEngine(model, tokenizer, config)
    if not compiled:
        engine.decoder = model  # every step built op by op
    return [r.token for r in engine.stream(PROMPT, max_tokens=tokens)], engine


def assert_same_state(a: HebbianEngine, b: HebbianEngine) -> None:
    da, db = a.diagnostics(), b.diagnostics()
    assert da.pop("mode") == db.pop("mode") and da == pytest.approx(db, rel=1e-5)
    for x, y in zip(a.cache, b.cache):
        if isinstance(x, HebbianCache):
            assert (x.seen, x.evicted, x.offset) == (y.seen, y.evicted, y.offset)
        for u, v in zip(x.state, y.state):
            np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-6)
    for u, v in zip(a._strategy_arrays(), b._strategy_arrays()):
        np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_compiled_steps_decode_what_the_eager_ones_do(tiny, mode):
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode=mode)
    fast, compiled = generate(*tiny, config, compiled=True)
    slow, eager = generate(*tiny, config, compiled=False)
    assert fast == slow
    assert_same_state(compiled, eager)
    # every step but the hand-over ones (one in four, none without a consolidator) ran compiled
    assert compiled.decoder.compiled_steps >= (40 if mode == "off" else 28)


@pytest.mark.parametrize("settings", [{"positions": "original"}, {"track_importance": False, "mode": "rank1"},
                                      {"keep_important": 3}, {"target": "both", "mode": "association"}])
def test_compiled_steps_under_other_settings(tiny, settings):
    config = EngineConfig(**{"window": 16, "n_sink": 2, "prefill_chunk": 32, "hand_over": 4, "mode": "memory",
                             **settings})
    fast, compiled = generate(*tiny, config, compiled=True)
    slow, eager = generate(*tiny, config, compiled=False)
    assert fast == slow
    assert_same_state(compiled, eager)
    # heavy hitters compete at every step: such steps always run op by op
    assert (compiled.decoder.compiled_steps == 0) == bool(config.keep_important)


def test_a_rebase_runs_op_by_op_and_the_steps_around_it_compiled(tiny, monkeypatch):
    monkeypatch.setattr(HebbianCache, "REBASE_AT", 48)
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, mode="off")
    fast, compiled = generate(*tiny, config, compiled=True, tokens=60)
    slow, eager = generate(*tiny, config, compiled=False, tokens=60)
    assert fast == slow
    assert_same_state(compiled, eager)
    assert compiled.cache[0].base > 0  # it rebased
    assert 50 <= compiled.decoder.compiled_steps < 60


def test_other_architectures_and_caches_of_the_models_own(tmp_path):
    for arch, compiles in [("qwen2", True), ("gemma3_text", False)]:  # gemma3: sliding-window layers
        model = tiny_model(arch)
        write_gguf(model, tmp_path / f"{arch}.gguf", arch)
        tokenizer = build_tokenizer(gguf.GGUFReader(str(tmp_path / f"{arch}.gguf")))
        config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="memory")
        fast, compiled = generate(model, tokenizer, config, compiled=True, tokens=24)
        slow, eager = generate(model, tokenizer, config, compiled=False, tokens=24)
        assert fast == slow, arch
        assert_same_state(compiled, eager)
        assert (compiled.decoder.compiled_steps > 0) == compiles, arch


def test_a_trace_leaves_the_caches_and_the_strategy_as_they_were(tiny):
    """The first compiled call traces the model through the caches' own code: what that code
    records while it runs must not outlive the trace (the counters advance once, after it)."""
    model, tokenizer = tiny
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="rank1")
    engine = HebbianEngine(model, tokenizer, config)
    reference = HebbianEngine(model, tokenizer, config)
    reference.decoder = model
    for e in (engine, reference):
        list(e.stream(PROMPT, max_tokens=9))
    assert engine.decoder.compiled_steps > 0
    assert_same_state(engine, reference)
    for c in engine.cache:
        assert c._given is None and c._step is None and c._deferred is None
    assert engine.strategy._effective
    for state, dw_t, shift in engine.strategy._effective.values():  # real arrays, not a trace's
        assert all(mx.isfinite(x).all().item() for x in [dw_t, shift, *state.values()])
