"""The engine's knobs, in one validated dataclass."""

from __future__ import annotations

from dataclasses import dataclass

POSITION_SCHEMES = ("cache", "original")
MODES = ("off", "rank1", "association", "memory", "slots")
IMPLEMENTED_MODES = ("off",)


@dataclass(frozen=True)
class EngineConfig:
    """How the engine's cache keeps, scores and hands over tokens.

    window: recent tokens kept per layer, besides the sinks (heavy hitters count against it).
    n_sink: first tokens of the sequence that are never evicted (StreamingLLM's attention sinks).
    positions: "cache" re-rotates kept keys to their place in the cache (StreamingLLM);
        "original" keeps each key at its position in the sequence (mlx-lm's RotatingKVCache).
    keep_important: of the window, how many slots go to the highest-importance older tokens
        (H2O's heavy hitters) instead of the most recent ones; needs track_importance.
    track_importance: accumulate the attention each cached token receives (explicit softmax);
        off, attention runs through the fused kernel.
    prefill_chunk: the most prompt tokens fed to the model at once, which bounds memory.
    mode: what happens to evicted tokens; "off" drops them.
    """

    window: int = 1020
    n_sink: int = 4
    positions: str = "cache"
    keep_important: int = 0
    track_importance: bool = True
    prefill_chunk: int = 512
    mode: str = "off"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if self.n_sink < 0:
            raise ValueError(f"n_sink must be 0 or more, got {self.n_sink}")
        if self.positions not in POSITION_SCHEMES:
            raise ValueError(f"positions must be one of {', '.join(POSITION_SCHEMES)}, got {self.positions!r}")
        if not 0 <= self.keep_important < self.window:
            raise ValueError(f"keep_important must be in [0, window={self.window}), got {self.keep_important}")
        if self.keep_important and not self.track_importance:
            raise ValueError("keep_important needs track_importance=True: heavy hitters are chosen by importance")
        if self.prefill_chunk < 1:
            raise ValueError(f"prefill_chunk must be at least 1, got {self.prefill_chunk}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode not in IMPLEMENTED_MODES:
            raise NotImplementedError(
                f"mode {self.mode!r} is not implemented yet; available: {', '.join(IMPLEMENTED_MODES)}"
            )

    @property
    def capacity(self) -> int:
        """Tokens a layer's cache holds between steps, at most."""
        return self.n_sink + self.window
