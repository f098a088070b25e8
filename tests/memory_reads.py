"""A strategy's memory read as the engine's step makes it (HebbianCache.step), in one call, for
unit tests that drive a strategy without a model."""

from __future__ import annotations

import mlx.core as mx

from hebbian.engine.consolidation import Strategy


def read(
    strategy: Strategy, layer: int, queries: mx.array, scale: float
) -> tuple[mx.array, mx.array] | None:
    """(output (B, n_heads, L, Dv), log_mass (B, n_heads, L)) of `queries` (turned as memory keys
    want them) attending to the layer's memory; None while it holds nothing. As in a step, what
    is read was chosen before it, and a chunk's queries (L > 1) are observed after."""
    if not strategy.reads:
        return None
    state = strategy.memory_state(layer)
    if queries.shape[2] > 1:
        strategy.observe(layer, queries, scale)
    return None if state is None else strategy.read_state(state, queries, scale)
