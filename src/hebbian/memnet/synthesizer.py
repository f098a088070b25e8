"""Dreaming: a Transformer block run over the memory slots themselves.

Run every few steps with no new input, it lets slots attend to each other (linking
temporally distant memories, merging redundant ones). The result refines the memory as a
learned, bounded step towards the block's output: M <- M + rho (tanh(S(M)) - M) with
rho = sigmoid(learned) starting near 0.05, so an untrained dream barely disturbs memory
and contents stay inside [-1, 1].
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


class MemorySynthesizer(nn.Module):
    """Self-attention over slots (no positions: slots are a set) with residual refinement."""

    def __init__(self, slot_dim: int, n_heads: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(slot_dim)
        self.attention = nn.MultiHeadAttention(slot_dim, n_heads)
        self.norm2 = nn.LayerNorm(slot_dim)
        self.mlp = nn.Sequential(
            nn.Linear(slot_dim, 2 * slot_dim), nn.ReLU(), nn.Linear(2 * slot_dim, slot_dim)
        )
        self.refine_logit = mx.array(-3.0)

    def __call__(self, memory: mx.array) -> mx.array:
        """memory (B, N, D) -> refined memory (B, N, D)."""
        x = self.norm1(memory)
        x = memory + self.attention(x, x, x)
        x = x + self.mlp(self.norm2(x))
        rho = mx.sigmoid(self.refine_logit)
        return memory + rho * (mx.tanh(x) - memory)
