"""The engine bench's paired decode measurement: the arithmetic of its ratios, and that the
generations it times are the engine's own."""

from contextlib import contextmanager

import pytest

from hebbian.engine import EngineConfig, HebbianEngine
from hebbian.engine.bench import (
    ROTATING,
    bracketed_ratios,
    decode_block,
    median_with_interval,
    running_engine,
)


def test_each_block_is_compared_with_the_mean_of_the_rotating_blocks_around_it():
    blocks = [
        (ROTATING, 2.0),
        ("a", 1.0),
        (ROTATING, 4.0),
        ("b", 4.0),
        (ROTATING, 2.0),
        ("a", 6.0),
        (ROTATING, 4.0),
    ]
    assert bracketed_ratios(blocks) == {"a": [3.0, 0.5], "b": [0.75]}
    with pytest.raises(ValueError, match="not between two rotating"):
        bracketed_ratios([(ROTATING, 1.0), ("a", 1.0), ("b", 1.0), (ROTATING, 1.0)])
    with pytest.raises(ValueError, match="not between two rotating"):
        bracketed_ratios([("a", 1.0), (ROTATING, 1.0)])


def test_the_median_comes_with_an_order_statistic_interval():
    ratios = [0.80, 0.95, 0.85, 0.91, 0.88, 0.99, 0.83, 0.93, 0.90, 0.87, 0.97, 0.86]
    median, low, high = median_with_interval(ratios)
    ordered = sorted(ratios)
    assert median == pytest.approx((ordered[5] + ordered[6]) / 2)
    assert ordered[0] < low <= median <= high < ordered[-1]  # 12 pairs: narrower than the range
    assert median_with_interval([0.9, 1.1, 1.0]) == (1.0, 0.9, 1.1)  # too few: the range


def test_a_block_decodes_exactly_n_tokens_inside_its_context():
    events = []

    @contextmanager
    def around():
        events.append("in")
        yield
        events.append("out")

    tokens = iter(range(10))
    assert decode_block((tokens, around), 4) >= 0
    assert next(tokens) == 4 and events == ["in", "out"]


@pytest.mark.parametrize("mode", ["off", "memory"])
def test_the_timed_engine_generation_is_the_one_a_chat_gets(tiny, mode):
    model, tokenizer = tiny
    config = EngineConfig(window=16, n_sink=2, prefill_chunk=32, mode=mode)
    prompt = list(range(3, 43))
    tokens, around = running_engine(HebbianEngine(model, tokenizer, config), prompt)
    with around():  # the window wraps during the prompt, so decoding is steady (fused) throughout
        timed = [int(next(tokens)[0]) for _ in range(24)]
    tokens.close()
    chat = [r.token for r in HebbianEngine(model, tokenizer, config).stream(prompt, max_tokens=24)]
    assert timed == chat[: len(timed)] and len(chat) == 24
