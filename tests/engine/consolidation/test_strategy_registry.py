"""A mode is one class: registered, it runs end to end (config, engine, compiled steps, state
files, the chat's help) with no other edit. (That the engine's imports run in no circle is
tests/test_import_graph.py's.)"""

import sys

import mlx.core as mx
import numpy as np
import pytest
from engine_runs import assert_same, generate

from hebbian.engine import (
    MODES,
    EngineConfig,
    HebbianEngine,
    Knob,
    Strategy,
    consolidation,
    modes,
    register_strategy,
)
from hebbian.engine.chat import help_text
from hebbian.engine.consolidation import base
from hebbian.engine.consolidation.base import heads_first


@pytest.fixture
def registry(monkeypatch):
    """Modes registered inside a test leave with it."""
    monkeypatch.setattr(base, "_STRATEGIES", dict(base._STRATEGIES))


def define_echo() -> type[Strategy]:
    """The whole of a new mode: one class."""

    @register_strategy("echo")
    class Echo(Strategy):
        """A weighted mean of the evicted keys and values per KV head, read as one more key."""

        summary = "one mean key and value per KV head"
        default_strength = 0.5
        knobs = {"echo_gain": Knob(1.0, "what a token's weight is multiplied by", *base.POSITIVE)}
        reads = True

        def initial(self, layer):
            s = self.shapes[layer]
            return {
                "key": mx.zeros((s.n_kv_heads, 1, s.head_dim)),
                "value": mx.zeros((s.n_kv_heads, 1, s.value_dim)),
                "mass": mx.zeros((s.n_kv_heads,)),
            }

        def update(self, layer, state, batch, weights):
            w = (weights * self.config.echo_gain)[..., None]  # (H, N, 1)
            held = state["mass"][:, None, None]
            total = mx.maximum(held + w.sum(axis=1, keepdims=True), 1e-30)

            def mean(old, new):
                return (held * old + (w * heads_first(new)).sum(axis=1, keepdims=True)) / total

            return {
                **state,
                "key": mean(state["key"], batch.keys),
                "value": mean(state["value"], batch.values),
            }

        @staticmethod
        def read_state(state, queries, scale):
            B, n_heads, L, D = queries.shape
            H = state["key"].shape[0]
            q = queries.reshape(B, H, -1, D) * scale
            score = (q @ state["key"].swapaxes(1, 2)[None])[..., 0].astype(mx.float32)
            log_mass = score + mx.log(mx.maximum(state["mass"], 1e-30))[None, :, None]
            out = mx.broadcast_to(
                state["value"][None], (B, H, q.shape[2], state["value"].shape[-1])
            )
            return out.reshape(B, n_heads, L, -1), log_mass.reshape(B, n_heads, L)

    return Echo


def test_a_mode_defined_in_one_class_runs_end_to_end(tiny, registry, tmp_path):
    define_echo()
    assert modes()[-1] == "echo" and "echo" not in MODES  # MODES: the built-in ones at import
    assert "echo" in help_text()
    with pytest.raises(ValueError, match="echo_gain must be positive, got 0"):
        EngineConfig(mode="echo", echo_gain=0)
    config = EngineConfig(
        window=16, n_sink=2, prefill_chunk=32, hand_over=4, mode="echo", echo_gain=2.0
    )
    assert config.eta == 0.5 and config.echo_gain == 2.0 and config.to_dict()["echo_gain"] == 2.0
    fast, slow = generate(*tiny, config, compiled=True), generate(*tiny, config, compiled=False)
    assert_same(fast, slow)
    engine = fast[2]
    d = engine.diagnostics()
    assert d["mode"] == "echo" and d["consolidated"] > 0 and d["mass"] > 0
    assert engine.decoder.compiled_steps >= 28
    # what it holds is read: the same reply without it scores otherwise
    window_alone = generate(*tiny, config.replace(mode="off"), compiled=True)
    assert not np.allclose(window_alone[1], fast[1], atol=1e-3)
    engine.save(tmp_path / "echo")
    other = HebbianEngine(*tiny, config)
    other.load(tmp_path / "echo")
    loaded = other.diagnostics()
    assert loaded["consolidated"] == d["consolidated"] and loaded["mass"] == pytest.approx(
        d["mass"]
    )


def test_a_module_added_to_the_consolidation_package_is_a_mode(registry, tmp_path):
    """The package imports every module it holds: a new mode needs no edit of __init__.py."""
    (tmp_path / "dropped.py").write_text(
        "from hebbian.engine.consolidation.base import Strategy, register_strategy\n"
        "@register_strategy('dropped')\n"
        "class Dropped(Strategy):\n"
        "    summary = 'a mode in a module of its own'\n"
        "    consolidates = False\n"
    )
    consolidation.__path__.append(str(tmp_path))  # as if the file were in the package
    try:
        consolidation.import_modules()
    finally:
        consolidation.__path__.remove(str(tmp_path))
        sys.modules.pop(f"{consolidation.__name__}.dropped", None)
    assert modes()[:6] == MODES and modes()[6:] == ("dropped",) and "dropped" in help_text()
    assert EngineConfig(mode="dropped").strategy.summary == "a mode in a module of its own"


def test_a_mode_that_records_layer_inputs_needs_no_side_path(tiny, registry):
    """records_inputs alone (no side_targets) gets each evicted token's layer input."""

    @register_strategy("inputs")
    class Inputs(Strategy):
        records_inputs = True

        def initial(self, layer):
            s = self.shapes[layer]
            return {"sum": mx.zeros((s.hidden,)), "mass": mx.zeros((s.n_kv_heads,))}

        def update(self, layer, state, batch, weights):
            return {**state, "sum": state["sum"] + batch.hidden.sum(axis=(0, 1, 2))}

    engine = HebbianEngine(*tiny, EngineConfig(window=16, n_sink=2, hand_over=4, mode="inputs"))
    engine.feed(list(range(3, 60)))
    assert engine.diagnostics()["consolidated"] > 0
    assert all(mx.abs(state["sum"]).sum().item() > 0 for state in engine.strategy.layers.values())


def test_the_registry_refuses_what_it_cannot_tell_apart(registry):
    define_echo()
    with pytest.raises(ValueError, match="'echo' is registered already"):
        define_echo()
    with pytest.raises(ValueError, match="knob 'slots' differs from mode 'slots'"):

        @register_strategy("clash")
        class Clash(Strategy):
            knobs = {"slots": Knob(3, "not the slots of mode slots")}

    # a knob named as one of EngineConfig's own (a field, a property, a method) would hide it
    for name in ("decay", "capacity", "replace", "_private"):
        with pytest.raises(ValueError, match=f"knob '{name}' is a name of EngineConfig's own"):
            register_strategy("hides")(type("Hides", (Strategy,), {"knobs": {name: Knob(0.5, "")}}))
    assert EngineConfig().decay == 0.9995 and EngineConfig().capacity == 1024
    with pytest.raises(ValueError, match="tracks_links needs records_inputs"):
        register_strategy("links")(type("Links", (Strategy,), {"tracks_links": True}))
    with pytest.raises(TypeError, match="not a Strategy subclass"):
        register_strategy("plain")(object)
    assert not {"clash", "hides", "links", "plain"} & set(modes())


def test_off_is_the_null_strategy(tiny):
    engine = HebbianEngine(*tiny, EngineConfig(window=16, n_sink=2, mode="off"))
    engine.feed(list(range(3, 60)))
    d = engine.diagnostics()
    assert d["evicted"] > 0 and d["consolidated"] == 0 and d["memory_bytes"] == 0
    assert d["mass"] == 0.0 and engine.strategy.state_dict() == {}
