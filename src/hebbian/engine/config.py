"""The engine's knobs, in one validated dataclass.

The cache's settings and what every mode shares are fields here. Each mode's own knobs are
declared with its strategy (consolidation/, as `knobs`), and EngineConfig takes every registered
strategy's knobs as keys too: EngineConfig(mode="episodic", block=16).block == 16. The modes,
their default strengths and their own checks come from the registry (consolidation/base.py).
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, dataclass, fields
from typing import Any

from .consolidation import all_knobs, modes, strategy_class
from .consolidation.base import reserve

POSITION_SCHEMES = ("cache", "original")


def __getattr__(name: str):
    """MODES and DEFAULT_STRENGTH, read from the registry when asked."""
    if name == "MODES":
        return modes()
    if name == "DEFAULT_STRENGTH":  # a conservative default strength per mode
        return {m: strategy_class(m).default_strength for m in modes()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Signature:
    """EngineConfig's signature, for inspect.signature: every key it takes, as keyword arguments
    with their defaults (its fields, then the registered strategies' knobs)."""

    def __get__(self, instance, owner) -> inspect.Signature:
        keyword = inspect.Parameter.KEYWORD_ONLY
        own = [
            inspect.Parameter(f.name, keyword, default=f.default, annotation=f.type)
            for f in fields(owner)
            if f.name != "knob_values" and f.default is not MISSING
        ]
        knobs = [
            inspect.Parameter(name, keyword, default=k.default, annotation=type(k.default).__name__)
            for name, k in all_knobs().items()
        ]
        return inspect.Signature(own + knobs)


@dataclass(frozen=True, init=False, repr=False)
class EngineConfig:
    """How the engine's cache keeps, scores and hands over tokens, and what consolidates them.

    Cache:
    window: recent tokens kept per layer, besides the sinks (heavy hitters count against it).
    n_sink: first tokens of the sequence that are never evicted (StreamingLLM's attention sinks).
    positions: "cache" places kept keys at their place in the cache (StreamingLLM: the sinks sit
        just before the window, whatever was evicted); "original" keeps each key at its position
        in the sequence (mlx-lm's RotatingKVCache).
    keep_important: of the window, how many slots go to the highest-importance older tokens
        (H2O's heavy hitters) instead of the most recent ones; needs track_importance.
    track_importance: accumulate the attention each cached token receives (explicit softmax);
        off (and with no memory to read), attention runs through the fused kernel.
    prefill_chunk: the most prompt tokens fed to the model at once, which bounds memory.
    hand_over: while decoding, evicted tokens (which leave attention at once) reach the
        strategy in batches of this many, keeping consolidation off the per-token path;
        1 hands each over at its step. Heavy hitters (keep_important) compete at every step.

    Consolidation of evicted tokens:
    mode: a registered strategy's name (MODES: "off" drops them; see consolidation/).
    strength: how much one evicted token counts (an average token has importance ~1): the fast
        weights' learning rate eta, or the memory's and slots' weight per token. None takes the
        mode's conservative default (its strategy's default_strength).
    decay: factor by which consolidated state fades per evicted token (1 keeps everything).
    recall_distance: strategies that read position-free keys score them as if they sat this many
        positions before the query; None: the mode's default (Strategy.recall_at: the capacity,
        just beyond the window, where the model last saw them; episodic: nearer). 0 reads them as
        if at the query's own position, which RoPE models weigh most: measured on Pride and
        Prejudice, that overweights them (see the engine's notes).

    And every registered strategy's knobs (Strategy.knobs, with their help), whatever the mode.
    """

    window: int = 1020
    n_sink: int = 4
    positions: str = "cache"
    keep_important: int = 0
    track_importance: bool = True
    prefill_chunk: int = 512
    hand_over: int = 16
    mode: str = "off"
    strength: float | None = None
    decay: float = 0.9995
    recall_distance: int | None = None
    # every registered strategy's knobs, (name, value) in the registry's order
    knob_values: tuple[tuple[str, Any], ...] = ()

    __signature__ = _Signature()

    def __init__(self, *, knob_values: tuple[tuple[str, Any], ...] = (), **values: Any):
        own = {f.name for f in fields(self)} - {"knob_values"}
        registered = all_knobs()
        given = {name: value for name, value in knob_values if name in registered}
        for name, value in values.items():
            if name not in own and name not in registered:
                raise TypeError(
                    f"EngineConfig.__init__() got an unexpected keyword argument {name!r}"
                )
            if name in registered:
                given[name] = value
        for f in fields(self):
            if f.name != "knob_values":
                object.__setattr__(self, f.name, values.get(f.name, f.default))
        knobs = tuple((name, given.get(name, knob.default)) for name, knob in registered.items())
        object.__setattr__(self, "knob_values", knobs)
        for name, value in knobs:  # read as attributes: config.block
            object.__setattr__(self, name, value)
        self._check()

    def __getattr__(self, name: str) -> Any:
        """A knob of a strategy registered after this config was made: its default."""
        knob = all_knobs().get(name) if not name.startswith("_") else None
        if knob is None:
            raise AttributeError(f"'EngineConfig' object has no attribute {name!r}")
        return knob.default

    def _check(self) -> None:
        checks = [
            (self.window >= 1, f"window must be at least 1, got {self.window}"),
            (self.n_sink >= 0, f"n_sink must be 0 or more, got {self.n_sink}"),
            (
                self.positions in POSITION_SCHEMES,
                f"positions must be one of {', '.join(POSITION_SCHEMES)}, got {self.positions!r}",
            ),
            (
                0 <= self.keep_important < self.window,
                f"keep_important must be in [0, window={self.window}), got {self.keep_important}",
            ),
            (
                not self.keep_important or self.track_importance,
                "keep_important needs track_importance=True: heavy hitters are chosen by importance",
            ),
            (
                self.prefill_chunk >= 1,
                f"prefill_chunk must be at least 1, got {self.prefill_chunk}",
            ),
            (self.hand_over >= 1, f"hand_over must be at least 1, got {self.hand_over}"),
            (
                self.mode in modes(),
                f"mode must be one of {', '.join(modes())}, got {self.mode!r}",
            ),
            (
                self.strength is None or self.strength > 0,
                f"strength must be positive, got {self.strength}",
            ),
            (0 < self.decay <= 1, f"decay must be in (0, 1], got {self.decay}"),
            (
                self.recall_distance is None or self.recall_distance >= 0,
                f"recall_distance must be 0 or more, got {self.recall_distance}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        registered = all_knobs()
        problems = [registered[name].problem(name, value) for name, value in self.knob_values]
        problem = next(filter(None, problems), None) or self.strategy.check(self)
        if problem:
            raise ValueError(problem)

    @property
    def strategy(self) -> type:
        """The class of the strategy `mode` names (consolidation/)."""
        return strategy_class(self.mode)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every key EngineConfig takes: its fields and every registered strategy's knobs."""
        own = tuple(f.name for f in fields(cls) if f.name != "knob_values")
        return own + tuple(all_knobs())

    @property
    def capacity(self) -> int:
        """Tokens a layer's cache holds between steps, at most."""
        return self.n_sink + self.window

    @property
    def recall_at(self) -> int:
        """The recall distance in effect: the configured one, or else the mode's default."""
        if self.recall_distance is not None:
            return self.recall_distance
        return self.strategy.recall_at(self)

    @property
    def eta(self) -> float:
        """The strength in effect: the configured one or the mode's default."""
        return self.strategy.default_strength if self.strength is None else self.strength

    def to_dict(self) -> dict[str, Any]:
        """Every key and its value, flat (what EngineConfig(**d) takes back)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "knob_values"}
        return own | dict(self.knob_values)

    def __repr__(self) -> str:
        return f"EngineConfig({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def replace(self, **changes: Any) -> EngineConfig:
        return EngineConfig(**(self.to_dict() | changes))


# a knob may not take the name of a field, property or method: it would hide it
reserve({f.name for f in fields(EngineConfig)} | {n for n in vars(EngineConfig) if n[0] != "_"})
