"""EngineConfig validation, and its round trips (to_dict, replace, pickling)."""

import dataclasses
import json
import pickle

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
        ({"block": 0}, "block must be at least 1"),
        ({"blocks_read": 0}, "blocks_read must be at least 1"),
        ({"neighbours": -1}, "neighbours must be 0 or more"),
        ({"query_tokens": 0}, "query_tokens must be at least 1"),
        ({"budget": 0}, r"budget must be positive \(inf: no bound\)"),
        ({"recall_positions": "near"}, "recall_positions must be one of fixed, true"),
        ({"recall_distance": -1}, "recall_distance must be 0 or more"),
        ({"mode": "episodic", "keep_important": 4}, "mode 'episodic' keeps no heavy hitters"),
        ({"features": 1.5}, "features must be an integer, got 1.5"),
        ({"contrast": 1}, "contrast must be true or false, got 1"),
        ({"target": 1}, "target must be text, got 1"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message) as refused:
        EngineConfig(**kwargs)
    assert "\n" not in str(refused.value)  # one line


def test_a_config_round_trips_through_its_dict_replace_and_pickle():
    config = EngineConfig(mode="episodic", window=64, block=16, budget=float("inf"), max_norm=1)
    assert config.block == 16 and config.max_norm == 1 and config.features == 128
    flat = config.to_dict()
    assert "knob_values" not in flat and flat["block"] == 16 and flat["mode"] == "episodic"
    assert set(flat) == set(EngineConfig.names())
    assert EngineConfig(**flat) == config
    assert EngineConfig(**json.loads(json.dumps(flat))) == config  # as a state file holds it
    assert pickle.loads(pickle.dumps(config)) == config and hash(config) == hash(
        EngineConfig(**flat)
    )
    changed = config.replace(block=8, window=32)
    assert (changed.block, changed.window, changed.budget, changed.mode) == (
        8,
        32,
        float("inf"),
        "episodic",
    )
    assert dataclasses.replace(config, mode="slots").to_dict() == flat | {"mode": "slots"}
    assert "block=16" in repr(config)


def test_unknown_keys_and_positional_values_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'blocks'"):
        EngineConfig(blocks=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'blocks'"):
        EngineConfig().replace(blocks=3)
    with pytest.raises(TypeError, match="positional"):
        EngineConfig(16)
