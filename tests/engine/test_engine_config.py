"""EngineConfig validation."""

import pytest

from hebbian.engine import EngineConfig
from hebbian.engine.config import DEFAULT_STRENGTH


def test_defaults_are_what_a_user_should_get():
    config = EngineConfig()
    assert config.capacity == config.window + config.n_sink == 1024 and config.n_sink == 4
    # the studies show no mode that helps without hurting yet (README Findings): the window alone
    assert (
        config.mode == "off"
        and EngineConfig(mode="memory").eta == DEFAULT_STRENGTH["memory"] <= 0.1
    )
    assert EngineConfig(mode="rank1", strength=0.3).eta == 0.3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 0}, "window must be at least 1"),
        ({"n_sink": -1}, "n_sink must be 0 or more"),
        ({"positions": "absolute"}, "positions must be one of cache, original"),
        ({"window": 8, "keep_important": 8}, r"keep_important must be in \[0, window=8\)"),
        ({"keep_important": 4, "track_importance": False}, "keep_important needs track_importance"),
        ({"prefill_chunk": 0}, "prefill_chunk must be at least 1"),
        ({"mode": "dream"}, "mode must be one of off, rank1, association, memory, slots"),
        (
            {"mode": "association", "track_importance": False},
            "mode 'association' needs track_importance",
        ),
        ({"strength": 0.0}, "strength must be positive"),
        ({"decay": 0.0}, r"decay must be in \(0, 1\]"),
        ({"decay": 1.5}, r"decay must be in \(0, 1\]"),
        ({"target": "q"}, "target must be one of k, v, both"),
        ({"max_norm": 0}, "max_norm must be positive"),
        ({"stiffen_at": -1}, "stiffen_at must be 0"),
        ({"features": 0}, "features must be at least 1"),
        ({"slots": 0}, "slots must be at least 1"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)
