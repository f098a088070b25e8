"""EngineConfig validation."""

import pytest

from hebbian.engine import EngineConfig


def test_defaults_are_valid():
    config = EngineConfig()
    assert config.capacity == config.window + config.n_sink and config.mode == "off"


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 0}, "window must be at least 1"),
    ({"n_sink": -1}, "n_sink must be 0 or more"),
    ({"positions": "absolute"}, "positions must be one of cache, original"),
    ({"window": 8, "keep_important": 8}, r"keep_important must be in \[0, window=8\)"),
    ({"keep_important": 4, "track_importance": False}, "keep_important needs track_importance"),
    ({"prefill_chunk": 0}, "prefill_chunk must be at least 1"),
    ({"mode": "dream"}, "mode must be one of off, rank1"),
])
def test_bad_values_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)


@pytest.mark.parametrize("mode", ["rank1", "association", "memory", "slots"])
def test_modes_not_yet_built_say_so(mode):
    with pytest.raises(NotImplementedError, match=f"mode '{mode}' is not implemented yet; available: off"):
        EngineConfig(mode=mode)
