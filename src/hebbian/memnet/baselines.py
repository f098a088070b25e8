"""Memoryless baselines, sized to the same parameter budget as the MemNet they face.

- ``TransformerLM``: the MemNet's own controller design (same depth, heads and window)
  without memory, widened until its parameter count matches.
- ``LSTMLM``: a one-layer LSTM whose hidden size is chosen the same way; its state is
  unbounded in time, so it has no window, only whatever its cell keeps.
Both share MemNet's call signature, ``(tokens, key) -> (logits, None)``.
"""

from __future__ import annotations

from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from .config import MemNetConfig
from .controller import TransformerController


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


class TransformerLM(nn.Module):
    """Embedding, windowed Transformer, output head: MemNet without its memory."""

    def __init__(self, vocab_size: int, dims: int, n_layers: int, n_heads: int, window: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dims)
        self.controller = TransformerController(dims, n_layers, n_heads, window)
        self.head = nn.Linear(dims, vocab_size)

    def __call__(self, tokens: mx.array, key: mx.array | None = None) -> tuple[mx.array, None]:
        return self.head(self.controller(self.embedding(tokens))), None


class LSTMLM(nn.Module):
    """Embedding, one LSTM layer, output head."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden)
        self.head = nn.Linear(hidden, vocab_size)

    def __call__(self, tokens: mx.array, key: mx.array | None = None) -> tuple[mx.array, None]:
        states, _ = self.lstm(self.embedding(tokens))
        return self.head(states), None


def matched_width(
    build: Callable[[int], nn.Module], target: int, step: int, largest: int = 4096
) -> int:
    """The width (a multiple of ``step``) whose model's parameter count is closest to ``target``.

    Parameter counts grow with width, so a bisection finds the first width at or above
    the target; the answer is it or the width just below.
    """
    low, high = 1, largest // step
    while low < high:
        mid = (low + high) // 2
        if count_parameters(build(mid * step)) < target:
            low = mid + 1
        else:
            high = mid
    candidates = [w * step for w in (low - 1, low) if w >= 1]
    return min(candidates, key=lambda w: abs(count_parameters(build(w)) - target))


def transformer_baseline(config: MemNetConfig, target: int) -> TransformerLM:
    """A TransformerLM with MemNet's depth, heads and window and about ``target`` parameters."""

    def build(dims: int) -> TransformerLM:
        return TransformerLM(
            config.vocab_size, dims, config.n_layers, config.n_heads, config.window
        )

    return build(matched_width(build, target, config.n_heads))


def lstm_baseline(config: MemNetConfig, target: int) -> LSTMLM:
    """An LSTMLM with about ``target`` parameters."""

    def build(hidden: int) -> LSTMLM:
        return LSTMLM(config.vocab_size, hidden)

    return build(matched_width(build, target, 1))
