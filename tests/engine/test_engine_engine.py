"""HebbianEngine: scoring, conversation, state files, rollback, long-run stability."""

import gguf
import mlx.core as mx
import numpy as np
import pytest
from gguf_fixtures import tiny_model, write_gguf
from mlx_lm.models.cache import KVCache

from hebbian.engine import MODES, EngineConfig, HebbianCache, HebbianEngine, StateFileError, patched
from hebbian.engine import cache as cache_module
from hebbian.models.gguf_tokenizer import build_tokenizer

CONSOLIDATING = [m for m in MODES if m != "off"]


def ids(n: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, 250, n).tolist()


def engine(tiny, **config) -> HebbianEngine:
    return HebbianEngine(
        *tiny, EngineConfig(**{"window": 16, "n_sink": 2, "prefill_chunk": 32, **config})
    )


def test_score_equals_the_plain_model_while_nothing_is_evicted(tiny):
    model, _ = tiny
    tokens = ids(40)
    logits = model(mx.array(tokens)[None], cache=[KVCache() for _ in model.layers])[0].astype(
        mx.float32
    )
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    expected = [logprobs[i - 1, tokens[i]].item() for i in range(25, 40)]
    got = engine(tiny, window=64, mode="off", prefill_chunk=8).score(tokens[:25], tokens[25:])
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("mode", CONSOLIDATING)
def test_each_strategy_round_trips_through_a_state_file(tiny, mode, tmp_path):
    first = engine(tiny, mode=mode)
    first.score(ids(300), ids(10, 1))
    first.save(tmp_path / "state")
    first.reset(keep_memory=True)
    second = engine(tiny, mode=mode)
    second.load(tmp_path / "state")
    assert second.diagnostics()["consolidated"] == first.diagnostics()["consolidated"] > 0
    assert first.score(ids(30, 2), ids(10, 3)) == second.score(ids(30, 2), ids(10, 3))
    first.reset()  # forgetting the memory changes what follows
    assert first.score(ids(30, 2), ids(10, 3)) != second.score(ids(30, 2), ids(10, 3))


def test_a_state_file_from_another_model_or_mode_is_refused(tiny, tmp_path):
    source = engine(tiny, mode="memory")
    source.score(ids(100), ids(5))
    source.save(tmp_path / "state")
    other = HebbianEngine(tiny_model("llama", seed=1), tiny[1], source.config)
    with pytest.raises(StateFileError, match="different model"):
        other.load(tmp_path / "state")
    with pytest.raises(
        StateFileError, match="holds 'memory' state but the engine runs mode 'slots'"
    ):
        engine(tiny, mode="slots").load(tmp_path / "state")
    with pytest.raises(StateFileError, match="does not fit"):
        engine(tiny, mode="memory", features=8).load(tmp_path / "state")


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not ours"])
def test_a_damaged_file_is_refused_and_nothing_changes(tiny, tmp_path, damage):
    path = tmp_path / "state"
    source = engine(tiny, mode="slots")
    source.score(ids(100), ids(5))
    source.save(path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "corrupt":
        path.write_bytes(b"\x00garbage" + data[8:])
    else:
        mx.save_safetensors(str(tmp_path / "other.safetensors"), {"w": mx.ones(3)})
        path.write_bytes((tmp_path / "other.safetensors").read_bytes())
    kept = path.read_bytes()
    target = engine(tiny, mode="slots")
    target.score(ids(60, 4), ids(3, 5))
    before = target.diagnostics()
    with pytest.raises(StateFileError) as error:
        target.load(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert path.read_bytes() == kept and target.diagnostics() == before


def test_a_failed_save_leaves_the_previous_file(tiny, tmp_path, monkeypatch):
    path = tmp_path / "state"
    saver = engine(tiny, mode="memory")
    saver.save(path)
    kept = path.read_bytes()

    def full_disk(file, arrays, metadata):
        open(file, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mx, "save_safetensors", full_disk)
    saver.score(ids(100), ids(5))
    with pytest.raises(StateFileError, match="No space left"):
        saver.save(path)
    assert path.read_bytes() == kept and sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_a_conversation_feeds_only_what_is_new_each_turn(tiny):
    e = engine(tiny, mode="memory")
    messages = [{"role": "user", "content": "hello"}]
    first = list(e.stream(messages, max_tokens=5))
    rendered = e.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert first[-1].prompt_tokens == len(e.tokenizer.encode(rendered, add_special_tokens=False))
    messages += [
        {"role": "assistant", "content": "".join(r.text for r in first)},
        {"role": "user", "content": "again"},
    ]
    fed = e.transcript
    second = list(e.stream(messages, max_tokens=5))
    full = e.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert full.startswith(fed) and e.transcript.startswith(full)
    new = e.tokenizer.encode(full[len(fed) :], add_special_tokens=False)
    assert (
        second[-1].prompt_tokens
        == len(new)
        < len(e.tokenizer.encode(full, add_special_tokens=False))
    )
    assert e.cache[0].seen == first[-1].prompt_tokens + len(first) + second[-1].prompt_tokens + len(
        second
    )


def test_a_stopped_reply_keeps_what_was_generated(tiny):
    e = engine(tiny, mode="rank1")
    count = []
    replies = list(
        e.stream("hello", max_tokens=20, stop=lambda: count.append(1) or len(count) >= 3)
    )
    assert len(replies) == 3 and e.cache[0].seen == replies[0].prompt_tokens + 3


def test_a_failure_inside_the_forward_pass_is_undone(tiny, monkeypatch):
    e = engine(tiny, mode="memory")
    e.score(ids(50), ids(5, 1))
    before, transcript = e.diagnostics(), e.transcript

    def broken(self, layer, batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(e.strategy), "consolidate", broken)
    with pytest.raises(KeyboardInterrupt):
        e.score(ids(100, 6), ids(5, 7))
    assert e.diagnostics() == before and e.transcript == transcript


def test_a_fork_forgets_what_it_fed(tiny):
    e = engine(tiny, mode="slots")
    e.feed(ids(100))
    with e.fork():
        inside = e.score("", ids(5, 1))
        e.score(ids(200, 2), ids(5, 3))
    assert e.score("", ids(5, 1)) == inside


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("positions", ["cache", "original"])
def test_fused_steady_decoding_equals_the_step_run_operation_by_operation(
    tiny, mode, positions, monkeypatch
):
    """Once the window has filled, a decoding step runs as one compiled call per layer; it gives
    the logits, cache and consolidated state of the same steps run operation by operation."""

    def run(fuse: bool):
        e = engine(tiny, mode=mode, positions=positions, hand_over=4, strength=2.0)
        e.feed(ids(20))
        fused, compiled = [], cache_module.compiled_step
        with monkeypatch.context() as m:
            if fuse:
                m.setattr(cache_module, "compiled_step", lambda *a: fused.append(1) or compiled(*a))
            else:  # no step is then a steady decoding step: each runs op by op
                m.setattr(HebbianCache, "steady", property(lambda self: False))
            with patched(e.model, e.strategy):
                logits = [e.model(mx.array([[t]]), cache=e.cache) for t in ids(30, 1)]
                mx.eval(logits)
        state = e.strategy.state_dict()
        return logits, state, np.array(e.cache[0].held("importance")), len(fused)

    (fused, fused_state, fused_importance, n), (plain, plain_state, plain_importance, none) = (
        run(True),
        run(False),
    )
    assert n > 0 and none == 0
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(fused_importance, plain_importance, atol=1e-5, rtol=1e-5)
    assert fused_state.keys() == plain_state.keys() and (mode == "off" or fused_state)
    for name in fused_state:
        np.testing.assert_allclose(
            np.array(fused_state[name]), np.array(plain_state[name]), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("mode", MODES)
def test_twenty_thousand_tokens_of_consolidation_stay_finite(tiny, mode):
    # chunks of a few hundred tokens: the explicit softmax costs (window + chunk) per token
    e = engine(
        tiny, mode=mode, window=64, prefill_chunk=250, strength=5.0, decay=1.0, features=32, slots=8
    )
    scores = e.score(ids(19_990, 8), ids(10, 9))
    assert np.isfinite(scores).all() and e.diagnostics()["consolidated"] == (
        0 if mode == "off" else 20_000 - 66
    )
    assert all(np.isfinite(np.array(x)).all() for x in e.strategy.arrays())
    assert all(np.isfinite(v) for v in e.diagnostics().values() if isinstance(v, float))
    assert len(e.generate("hello", max_tokens=4)) > 0


def test_models_with_sliding_window_layers_keep_their_own_caches_through_a_fork(tmp_path):
    model = tiny_model("gemma3_text")
    write_gguf(model, tmp_path / "g.gguf", "gemma3_text")
    e = HebbianEngine(
        model,
        build_tokenizer(gguf.GGUFReader(str(tmp_path / "g.gguf"))),
        EngineConfig(window=16, n_sink=2, mode="slots"),
    )
    with e.fork():
        e.score(ids(40), ids(5, 1))
    e.feed(ids(6, 2))  # within the sliding window (8): the layers' own caches were restored empty
    assert len(e.generate("hi", max_tokens=3)) > 0
