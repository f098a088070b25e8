"""Token log-likelihoods of text under a plain model (no engine): perplexity checks."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn


def token_nll(model: nn.Module, tokens: list[int], window: int = 1024) -> list[float]:
    """Negative log-likelihood of tokens[1:], scored in disjoint windows of `window` tokens.

    Each window starts afresh (no context carried across), the standard fixed-window
    perplexity of the literature; the first token of each window is context only.
    """
    if len(tokens) < 2:
        raise ValueError("need at least two tokens to score")
    nll: list[float] = []
    for start in range(0, len(tokens) - 1, window):
        chunk = mx.array(tokens[start : start + window + 1])[None]
        logits = model(chunk[:, :-1]).astype(mx.float32)
        losses = nn.losses.cross_entropy(logits, chunk[:, 1:], reduction="none")
        nll.extend(losses[0].tolist())
    return nll


def perplexity(model: nn.Module, tokens: list[int], window: int = 1024) -> float:
    nll = token_nll(model, tokens, window)
    return math.exp(sum(nll) / len(nll))
