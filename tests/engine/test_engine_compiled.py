"""Steady decoding steps compiled whole (compiled.py) give what the model built op by op gives."""

import gguf
import mlx.core as mx
import mlx.nn as nn
import pytest
from engine_runs import PROMPT, assert_same, generate
from gguf_fixtures import tiny_model, write_gguf

from hebbian.engine import MODES, EngineConfig, HebbianEngine, SteadyDecoder
from hebbian.engine import cache as cache_module
from hebbian.engine.step import plain_step
from hebbian.engine.timeline import Timeline
from hebbian.models.gguf_tokenizer import build_tokenizer


@pytest.mark.parametrize("mode", MODES)
def test_compiled_steps_decode_what_the_eager_ones_do(tiny, mode):
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode=mode)
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    assert_same(fast, slow)
    compiled = fast[2]
    # every step but the hand-over ones (one in four, none when nothing is consolidated) ran compiled
    assert compiled.decoder.compiled_steps >= (40 if mode == "off" else 28)


@pytest.mark.parametrize("mode", MODES)
def test_steps_run_op_by_op_in_every_layer_decode_what_compiled_ones_do(tiny, mode, monkeypatch):
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode=mode)
    fast = generate(*tiny, config, compiled=True)
    # the model built op by op, and each layer's step too (not the per-layer compiled_step)
    monkeypatch.setattr(cache_module, "compiled_step", plain_step)
    assert_same(fast, generate(*tiny, config, compiled=False))


@pytest.mark.parametrize(
    "settings",
    [
        {"positions": "original"},
        {"track_importance": False, "mode": "rank1"},
        {"keep_important": 3},
        {"target": "both", "mode": "association"},
    ],
)
def test_compiled_steps_under_other_settings(tiny, settings):
    config = EngineConfig(
        **{
            "window": 16,
            "n_sink": 2,
            "prefill_chunk": 32,
            "hand_over": 4,
            "mode": "memory",
            **settings,
        }
    )
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    assert_same(fast, slow)
    compiled = fast[2]
    # heavy hitters compete at every step: such steps always run op by op
    assert (compiled.decoder.compiled_steps == 0) == bool(config.keep_important)


def test_a_rebase_runs_op_by_op_and_the_steps_around_it_compiled(tiny, monkeypatch):
    monkeypatch.setattr(Timeline, "REBASE_AT", 48)
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, mode="off")
    fast, slow = (
        generate(*tiny, config, compiled=True, tokens=60),
        generate(*tiny, config, compiled=False, tokens=60),
    )
    assert_same(fast, slow)
    compiled = fast[2]
    assert compiled.cache[0].base > 0  # it rebased
    assert 50 <= compiled.decoder.compiled_steps < 60


def test_other_architectures_and_caches_of_the_models_own(tmp_path):
    # gemma3: sliding-window layers
    for arch, compiles in [("qwen2", True), ("gemma3_text", False)]:
        model = tiny_model(arch)
        write_gguf(model, tmp_path / f"{arch}.gguf", arch)
        tokenizer = build_tokenizer(gguf.GGUFReader(str(tmp_path / f"{arch}.gguf")))
        config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="memory")
        fast = generate(model, tokenizer, config, compiled=True, tokens=24)
        assert_same(fast, generate(model, tokenizer, config, compiled=False, tokens=24))
        compiled = fast[2]
        assert (compiled.decoder.compiled_steps > 0) == compiles, arch


def test_a_trace_leaves_the_caches_and_the_strategy_as_they_were(tiny):
    """The first compiled call traces the model through the caches' own code: what that code
    records while it runs must not outlive the trace (the counters advance once, after it)."""
    model, tokenizer = tiny
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="rank1")
    fast = generate(model, tokenizer, config, compiled=True, tokens=9)
    assert_same(fast, generate(model, tokenizer, config, compiled=False, tokens=9))
    engine = fast[2]
    assert engine.decoder.compiled_steps > 0
    for c in engine.cache:
        assert c._given is None and c._step is None and c._rows is None
    assert engine.strategy._effective
    for source, dw_t, shift in engine.strategy._effective.values():  # real arrays, not a trace's
        assert all(mx.isfinite(x).all().item() for x in [dw_t, shift, *source])


@pytest.mark.parametrize("mode", ["off", "memory", "association"])
def test_no_sinks_and_a_window_that_fills_while_decoding(tiny, mode):
    """The new token's slot runs through 0 (no sinks), where the cache's own constants sit."""
    config = EngineConfig(window=16, n_sink=0, prefill_chunk=32, hand_over=4, mode=mode)
    for prompt in ([5, 6, 7, 8, 9], PROMPT[:10]):
        fast = generate(*tiny, config, compiled=True, prompt=prompt)
        assert_same(fast, generate(*tiny, config, compiled=False, prompt=prompt))
        assert fast[2].decoder.compiled_steps > 0


def test_turns_and_resets_each_structure_traced_once(tiny, monkeypatch):
    traces = []
    original = SteadyDecoder._traced
    monkeypatch.setattr(
        SteadyDecoder, "_traced", lambda self, arrays: traces.append(1) or original(self, arrays)
    )
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="memory")
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    for turn in ([50, 51, 52], [60, 61]):  # a second turn on the same cache, then a reset engine
        fast = generate(*tiny, config, compiled=True, prompt=turn, tokens=20, engine=fast[2])
        slow = generate(*tiny, config, compiled=False, prompt=turn, tokens=20, engine=slow[2])
        assert_same(fast, slow)
        fast[2].reset()
        slow[2].reset()
    decoder = fast[2].decoder
    assert decoder.compiled_steps > 40 and len(traces) == len(decoder._compiled) <= 3


def test_a_model_that_cannot_be_traced_decodes_op_by_op(tiny, monkeypatch):
    rope = nn.RoPE.__call__
    monkeypatch.setattr(
        nn.RoPE, "__call__", lambda self, x, offset=0: rope(self, x, offset=int(offset))
    )
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="memory")
    fast = generate(*tiny, config, compiled=True)
    assert_same(fast, generate(*tiny, config, compiled=False))
    decoder = fast[2].decoder
    assert (
        decoder.compiled_steps == 0
        and decoder._compiled
        and set(decoder._compiled.values()) == {None}
    )


def test_outside_patched_the_missing_attention_is_reported(tiny):
    """A trace without the engine's attention is refused (it would compile mlx-lm's own, and
    the cache would never be written); the step runs op by op, which reports it, as ever, at
    the next step."""
    model, tokenizer = tiny
    engine = HebbianEngine(
        model, tokenizer, EngineConfig(window=16, n_sink=2, prefill_chunk=32, mode="off")
    )
    engine.feed(PROMPT)
    with pytest.raises(RuntimeError, match="never reached the engine's attention"):
        for token in (7, 8):
            engine.decoder(mx.array([[token]]), cache=engine.cache)
    assert engine.decoder.compiled_steps == 0 and set(engine.decoder._compiled.values()) == {None}
