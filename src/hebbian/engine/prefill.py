"""Feeding a long prompt through a model in bounded chunks."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .cache import HebbianCache
from .patch import patched


def prefill(model: nn.Module, tokens: mx.array, cache: list, chunk: int) -> mx.array:
    """Run `tokens` (1-d) through `model` with `cache`, `chunk` tokens at a time.

    The cache holds at most its capacity plus one chunk at any moment, and the attention
    scores of a step are (chunk x (capacity + chunk)), whatever the prompt's length. Only the
    last chunk's output goes through the model's head. Returns the logits after the last
    token, (vocab,).
    """
    if len(tokens) == 0:
        raise ValueError("prefill needs at least one token")
    strategy = next((c.strategy for c in cache if isinstance(c, HebbianCache)), None)
    if strategy is None:
        raise ValueError("prefill needs a cache with HebbianCache layers (make_cache)")
    with patched(model, strategy):
        for start in range(0, len(tokens), chunk):
            logits = model(tokens[None, start : start + chunk], cache=cache)[0, -1]
            mx.eval([c.state for c in cache], strategy.arrays())
        mx.eval(logits)
    return logits
