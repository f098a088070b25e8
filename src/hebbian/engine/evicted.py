"""What a HebbianCache hands to a strategy: batches of evicted tokens."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx


@dataclass(frozen=True)
class Evicted:
    """A batch of tokens one layer evicted, E per (batch row, KV head), in sequence order.

    keys: (B, H, E, Dk) without their rotary position (as stored when the cache has no RoPE);
    values: (B, H, E, Dv); importance: (B, H, E) attention received, summed over the query heads
    of the KV head's group; positions: (B, H, E) int32 positions in the sequence.
    hidden: (B, 1 or H, E, D) the layer inputs the K/V projections saw (strategies that record
    inputs only). linked, linked_found: (B, H, E, D) the layer input of each token's strongest
    attender (the later token that gave it the most attention in one step, itself excluded) and
    whether there is one still cached (strategies that track links only).
    Heads differ only when keep_important > 0.
    """

    keys: mx.array
    values: mx.array
    importance: mx.array
    positions: mx.array
    hidden: mx.array | None = None
    linked: mx.array | None = None
    linked_found: mx.array | None = None
