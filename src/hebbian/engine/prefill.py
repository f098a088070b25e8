"""Feeding a long prompt through a model in bounded chunks."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from .patch import patched


def prefill(model: nn.Module, tokens: mx.array, cache: list, chunk: int) -> mx.array:
    """Run `tokens` (1-d) through `model` with `cache`, `chunk` tokens at a time.

    The cache holds at most its capacity plus one chunk at any moment, and the attention
    scores of a step are (chunk x (capacity + chunk)), whatever the prompt's length.
    Returns the logits after the last token, (vocab,).
    """
    if len(tokens) == 0:
        raise ValueError("prefill needs at least one token")
    with patched(model):
        for start in range(0, len(tokens), chunk):
            logits = model(tokens[None, start:start + chunk], cache=cache)
            mx.eval(logits[:, -1], [c.state for c in cache])
    return logits[0, -1]
