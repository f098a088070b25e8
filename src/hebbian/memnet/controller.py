"""TransformerController: a causal Transformer whose attention sees a bounded window.

Each layer lets token t attend to tokens t-W+1 .. t only (rotary positions, so only
relative offsets matter). Stacked layers widen the reach to L(W-1)+1 tokens
(``MemNetConfig.receptive_field``): anything older can only come back through memory.

Attention is computed on the band of W keys per query rather than on a masked T x T
matrix: on MLX's CPU backend every exp costs about 15 ns, so scoring only the window
makes the layer several times faster at the same result.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


def windows(x: mx.array, window: int) -> mx.array:
    """(..., T, d) -> (..., T, W, d): for each t, the entries t-W+1 .. t (zeros before the start)."""
    steps = x.shape[-2]
    padded = mx.pad(x, [(0, 0)] * (x.ndim - 2) + [(window - 1, 0), (0, 0)])
    return mx.stack([padded[..., i : i + steps, :] for i in range(window)], axis=-2)


def band_attention(q: mx.array, k: mx.array, v: mx.array, window: int) -> mx.array:
    """Causal attention of each query (..., T, d) over its own window of W keys."""
    steps = q.shape[-2]
    scores = (q[..., None, :] * windows(k, window)).sum(axis=-1) * q.shape[-1] ** -0.5
    # Window entry i of step t holds step t - W + 1 + i, which does not exist when negative.
    exists = (mx.arange(steps)[:, None] + mx.arange(window)[None, :]) >= window - 1
    weights = mx.softmax(mx.where(exists, scores, -mx.inf), axis=-1)
    return (weights[..., None] * windows(v, window)).sum(axis=-2)


class WindowedAttention(nn.Module):
    """Multi-head self-attention with rotary positions over a causal window."""

    def __init__(self, dims: int, n_heads: int, window: int):
        super().__init__()
        self.n_heads = n_heads
        self.window = window
        self.qkv = nn.Linear(dims, 3 * dims, bias=False)
        self.out = nn.Linear(dims, dims, bias=False)
        head_dims = dims // n_heads
        self.rope = nn.RoPE(head_dims - head_dims % 2)  # rotary pairs need an even count

    def __call__(self, x: mx.array) -> mx.array:
        batch, steps, dims = x.shape
        q, k, v = (
            part.reshape(batch, steps, self.n_heads, -1).transpose(0, 2, 1, 3)
            for part in mx.split(self.qkv(x), 3, axis=-1)
        )
        q, k = self.rope(q), self.rope(k)
        y = band_attention(q, k, v, self.window)
        return self.out(y.transpose(0, 2, 1, 3).reshape(batch, steps, dims))


class Block(nn.Module):
    """Pre-norm Transformer block: windowed attention, then a ReLU MLP (cheap on CPU)."""

    def __init__(self, dims: int, n_heads: int, window: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dims)
        self.attention = WindowedAttention(dims, n_heads, window)
        self.norm2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.ReLU(), nn.Linear(4 * dims, dims))

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransformerController(nn.Module):
    """Embedded inputs (B, T, d) -> hidden states (B, T, d), causal within a window of W tokens."""

    def __init__(self, dims: int, n_layers: int, n_heads: int, window: int):
        super().__init__()
        self.layers = [Block(dims, n_heads, window) for _ in range(n_layers)]
        self.norm = nn.LayerNorm(dims)

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)
