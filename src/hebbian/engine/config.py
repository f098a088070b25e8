"""The engine's knobs, in one validated dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass

POSITION_SCHEMES = ("cache", "original")
MODES = ("off", "rank1", "association", "memory", "slots", "episodic")
RECALL_POSITIONS = ("fixed", "true")
# episodic's default read distance: on tuning items the default model used read blocks more the
# nearer they sat (a needle item's fact read at 1024: answer log-prob -4.6, at 128: -2.6, at 32:
# -1.3; a fact from a previous chat turn, read at 128, was not answered, at 32 it was)
EPISODIC_RECALL = 32
TARGETS = ("k", "v", "both")
# A conservative default strength per mode (see EngineConfig.strength).
DEFAULT_STRENGTH = {
    "off": 0.0,
    "rank1": 0.05,
    "association": 0.05,
    "memory": 0.1,
    "slots": 0.1,
    "episodic": 1.0,
}


@dataclass(frozen=True)
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
        consolidator in batches of this many, keeping consolidation off the per-token path;
        1 hands each over at its step. Heavy hitters (keep_important) compete at every step.

    Consolidation of evicted tokens:
    mode: "off" drops them; "rank1", "association" (fast weights on the K/V projections),
        "memory" (a random-feature associative memory), "slots" (merged key/value slots) or
        "episodic" (exact blocks read back when a prompt asks for them).
    strength: how much one evicted token counts (an average token has importance ~1): the fast
        weights' learning rate eta, or the memory's and slots' weight per token. None takes the
        mode's conservative default (DEFAULT_STRENGTH).
    decay: factor by which consolidated state fades per evicted token (1 keeps everything).
    target: which projection the fast weights modify: "k", "v" or "both".
    max_norm: bound on the fast weights, relative to the projection's own: on dW's Frobenius
        norm (against W's), and per token on the side path's output (against W x).
    stiffen_at: fast-weight metaplasticity: a row whose accumulated change reaches stiffen_at
        times a typical row at the norm bound learns and forgets at half the rate (0: off).
    features: random features per memory (FAVOR+); more features, a closer estimate.
    recall_distance: memory, slots and episodic score their (position-free) keys as if they sat
        this many positions before the query; None: the capacity, just beyond the window, where
        the model last saw them (episodic: at most EPISODIC_RECALL). 0 reads them as if at the
        query's own position, which RoPE models weigh most: measured on Pride and Prejudice, that
        overweights them (see the engine's notes).
    slots: consolidated key/value slots per layer and KV head.
    seed: draws the memory's random features.

    episodic (consolidation/episodic.py):
    block: evicted tokens per block.
    blocks_read: blocks a prompt chunk chooses to read (the best by the retrieval heads' vote),
        each with `neighbours` blocks on either side.
    query_tokens: a prompt's last this many queries score the blocks.
    contrast: rank blocks by their share of the vote over the share earlier chunks gave them
        (discounting blocks that win every vote), not by the share alone.
    budget: the most bytes the store holds, as a fraction of a full float32 cache of the model's
        trained context (inf: no bound).
    retrieval_heads: "auto", "all" or "layer:kv_head,..." (the heads that score blocks).
    recall_positions: "fixed" reads every block at recall_distance; "true" keeps read keys at
        their distances from the newest evicted token.
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
    target: str = "v"
    max_norm: float = 0.05
    stiffen_at: float = 4.0
    features: int = 128
    recall_distance: int | None = None
    slots: int = 64
    seed: int = 0
    block: int = 32
    blocks_read: int = 2
    neighbours: int = 1
    query_tokens: int = 32
    contrast: bool = True
    budget: float = 0.1
    retrieval_heads: str = "auto"
    recall_positions: str = "fixed"

    def __post_init__(self) -> None:
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
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}"),
            (
                self.mode != "association" or self.track_importance,
                "mode 'association' needs track_importance=True: links are read from the attention weights",
            ),
            (
                self.strength is None or self.strength > 0,
                f"strength must be positive, got {self.strength}",
            ),
            (0 < self.decay <= 1, f"decay must be in (0, 1], got {self.decay}"),
            (
                self.target in TARGETS,
                f"target must be one of {', '.join(TARGETS)}, got {self.target!r}",
            ),
            (self.max_norm > 0, f"max_norm must be positive, got {self.max_norm}"),
            (
                self.stiffen_at >= 0,
                f"stiffen_at must be 0 (off) or positive, got {self.stiffen_at}",
            ),
            (self.features >= 1, f"features must be at least 1, got {self.features}"),
            (
                self.recall_distance is None or self.recall_distance >= 0,
                f"recall_distance must be 0 or more, got {self.recall_distance}",
            ),
            (self.slots >= 1, f"slots must be at least 1, got {self.slots}"),
            (self.block >= 1, f"block must be at least 1, got {self.block}"),
            (self.blocks_read >= 1, f"blocks_read must be at least 1, got {self.blocks_read}"),
            (self.neighbours >= 0, f"neighbours must be 0 or more, got {self.neighbours}"),
            (self.query_tokens >= 1, f"query_tokens must be at least 1, got {self.query_tokens}"),
            (self.budget > 0, f"budget must be positive (inf: no bound), got {self.budget}"),
            (
                self.recall_positions in RECALL_POSITIONS,
                f"recall_positions must be one of {', '.join(RECALL_POSITIONS)}, got {self.recall_positions!r}",
            ),
            (
                self.mode != "episodic" or not self.keep_important,
                "mode 'episodic' keeps no heavy hitters: set keep_important=0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def capacity(self) -> int:
        """Tokens a layer's cache holds between steps, at most."""
        return self.n_sink + self.window

    @property
    def recall_at(self) -> int:
        """The recall distance in effect: the configured one, or else just beyond the window, or
        for episodic just beyond a window of EPISODIC_RECALL tokens if the window is longer."""
        if self.recall_distance is not None:
            return self.recall_distance
        return min(self.capacity, EPISODIC_RECALL) if self.mode == "episodic" else self.capacity

    @property
    def eta(self) -> float:
        """The strength in effect: the configured one or the mode's default."""
        return DEFAULT_STRENGTH[self.mode] if self.strength is None else self.strength

    def to_dict(self) -> dict:
        return asdict(self)
