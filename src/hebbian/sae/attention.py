"""Attention received per token, the importance signal the SAE is weighted by.

For a llama-style layer (mlx-lm: ``input_layernorm``, ``self_attn`` with
``q_proj``/``k_proj``, ``rope``, ``scale``, ``n_heads``, ``n_kv_heads``) the
attention token j receives is the column sum ``sum_i softmax_j(q_i . k_j * scale)``
of the causal attention matrix, averaged over query heads (grouped-query heads
share their key/value head). Each query's row sums to 1, so the received
attention of a sequence of T tokens sums to T.

The SAE computes this signal itself, from the block's own weights: it does not
use the engine, whose cache accumulates a similar H2O-style signal for eviction.

Under causal masking early tokens are visible to more queries and to queries
with fewer keys, so raw column sums favour early positions, while the last
tokens are judged by a handful of (mostly local) queries.
:func:`received_within` counts the attention a token receives from a fixed
number of following queries, so every token is judged at the same query
distances; what is still expected at a position (softmax over more keys later
on) is divided out by :func:`hebbian.sae.importance.relative_to_position`.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from mlx_lm.models.base import create_attention_mask


def attention_probs(block, h: mx.array) -> mx.array:
    """Causal attention probabilities [B, T(query), T(key)] at ``block``, averaged over heads.

    ``h`` [B, T, D] is the residual stream entering the block.
    """
    attn = block.self_attn
    x = block.input_layernorm(h)
    b, t, _ = x.shape
    q = attn.q_proj(x).reshape(b, t, attn.n_heads, -1).transpose(0, 2, 1, 3)
    k = attn.k_proj(x).reshape(b, t, attn.n_kv_heads, -1).transpose(0, 2, 1, 3)
    q, k = attn.rope(q), attn.rope(k)
    group = attn.n_heads // attn.n_kv_heads
    q = q.reshape(b, attn.n_kv_heads, group, t, -1)  # query heads grouped under their kv head
    scores = (q * attn.scale) @ k[:, :, None].swapaxes(-1, -2)
    future = mx.triu(mx.ones((t, t), dtype=mx.bool_), k=1)
    probs = mx.softmax(mx.where(future, -mx.inf, scores.astype(mx.float32)), axis=-1, precise=True)
    return probs.mean(axis=(1, 2))


def hidden_before(model, tokens: mx.array, layer: int) -> mx.array:
    """The residual stream entering ``model.model.layers[layer]`` for ``tokens`` [B, T]."""
    inner = model.model
    h = inner.embed_tokens(tokens)
    mask = create_attention_mask(h, None)
    for block in inner.layers[:layer]:
        h = block(h, mask)
    return h


def attention_received(model, tokens, layer: int) -> np.ndarray:
    """Attention each token of ``tokens`` [T] receives at ``layer``, averaged over heads: shape [T]."""
    tokens = mx.array(np.asarray(tokens))[None]
    n_layers = len(model.model.layers)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer must lie in 0..{n_layers - 1}, got {layer}")
    probs = attention_probs(model.model.layers[layer], hidden_before(model, tokens, layer))
    return np.array(probs.sum(axis=-2)[0])


def received_within(probs: np.ndarray, horizon: int) -> np.ndarray:
    """Attention each key receives from the ``horizon`` queries starting at it, [..., T].

    ``probs`` [..., T, T] holds attention probabilities (query, key). Keys with
    fewer than ``horizon`` following queries (counting their own) get NaN.
    """
    t = probs.shape[-1]
    if not 0 < horizon <= t:
        raise ValueError(f"horizon must lie in 1..{t}, got {horizon}")
    lag = np.arange(t)[:, None] - np.arange(t)[None, :]  # query minus key
    received = np.sum(np.asarray(probs, np.float64) * ((lag >= 0) & (lag < horizon)), axis=-2)
    received[..., t - horizon + 1 :] = np.nan
    return received
