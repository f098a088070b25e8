"""The engine's attention over a HebbianCache.

Where importance is tracked or a strategy's memory is read, attention is an explicit
softmax: a KV head's keys (T, D) are broadcast over its query heads, so grouped-query heads
share their K/V without repeating them, and the column sums of the attention weights (over the
query heads of a group and the queries of the step) are the attention each cached token
received. Otherwise the fused kernel runs.

A memory read-out merges into the softmax as one more term: memories hold position-free keys,
and the queries it gets are turned so that those keys score as if they sat just beyond the
window (HebbianCache.memory_queries); it returns the output of attending to the memory alone,
(B, n_heads, L, Dv), and the log of its total unnormalized attention mass, (B, n_heads, L), on
the scale of exp(scale * q.k). Merging weighs the window's output and the
memory's by their masses, exactly as if the memory's keys were part of the softmax.
"""

from __future__ import annotations

import mlx.core as mx

from .fastexp import exp

QUERY_BLOCK = 128  # a chunk's queries are attended this many at a time (see blocked_attention)


def attention(queries, keys, values, cache, scale: float, mask=None, sinks=None) -> mx.array:
    """Drop-in for mlx-lm's scaled_dot_product_attention when `cache` is a HebbianCache: the
    layer's step (HebbianCache.step: the cache's writes, the memory read, this attention, the
    importance and links, evictions). `keys` and `values` are what update_and_fetch returned: the
    step reads the cache's own."""
    out, changed = cache.step(queries, scale, mask, sinks)
    # What the step changed (importance, evictions, the strategy's state) is computed with the
    # layer's output, while the step's buffers are alive, not at the next step, which could then
    # not update them in place.
    out = mx.depends(out, changed)
    if queries.shape[2] > 1:
        # A chunk's score matrices are large: computing this layer now, rather than with the
        # whole forward pass, frees them before the next layer makes its own.
        mx.async_eval(out)
    return out


def attend(queries, keys, values, scale: float, mask, sinks, memory, weighed: bool):
    """(output, weights or None): the explicit softmax where the weights are wanted or a memory
    read-out is merged (in blocks of queries for a long chunk), the fused kernel otherwise."""
    if memory is None and not weighed:
        return mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=scale, mask=mask, sinks=sinks
        ), None
    if queries.shape[2] > QUERY_BLOCK:
        out, weights = blocked_attention(queries, keys, values, scale, mask, sinks, memory)
    else:
        out, weights = explicit_attention(queries, keys, values, scale, mask, sinks, memory)
    return out, weights if weighed else None


def _grouped_mask(mask, L: int, T: int, n_kv: int) -> mx.array | None:
    """mlx-lm's mask forms ("causal", (L, T) or (B, 1|H, L, T); bool or additive) for grouped scores."""
    if isinstance(mask, str):  # causal, with the queries at the end of the keys
        return mx.arange(T - L, T)[:, None] >= mx.arange(T)[None]
    if mask is not None and mask.ndim == 4:
        return (
            mx.expand_dims(mask, 2)
            if mask.shape[1] == 1
            else mask.reshape(mask.shape[0], n_kv, -1, L, T)
        )
    return mask


def explicit_attention(queries, keys, values, scale: float, mask=None, sinks=None, memory=None):
    """Softmax attention returning (output (B, H, L, Dv), weights (B, n_kv_heads, L, T) float32),
    the weights being each query's attention to each key summed over the KV head's query heads.

    `sinks`: per-head logits that take attention mass without a value (gpt-oss);
    `memory`: a strategy's read (Strategy.read_state: output, log_mass), merged into the softmax.
    """
    B, n_heads, L, D = queries.shape
    n_kv, T = keys.shape[1], keys.shape[2]
    grouped = (B, n_kv, n_heads // n_kv, L)
    # Scores are formed in the model's dtype, as mlx-lm's own non-fused (quantized) path does,
    # and normalized in float32. Keys and values are broadcast over a KV head's query heads (one
    # (L, D) x (D, T) product per query head, as mlx's own fallback does) rather than the query
    # heads stacked into one (n_rep * L, D) matrix per KV head: stacked, a decoding step of the
    # default model took about 8% longer on a CPU (engine_step_profile.py).
    q = (queries * scale).reshape(*grouped, D)
    scores = (q @ mx.expand_dims(keys, 2).swapaxes(-1, -2)).astype(mx.float32)
    mask = _grouped_mask(mask, L, T, n_kv)
    if mask is not None:
        scores = (
            mx.where(mask, scores, mx.finfo(mx.float32).min)
            if mask.dtype == mx.bool_
            else scores + mask
        )
    values = mx.expand_dims(values, 2)
    # One exponential per score, and on a CPU not mx.exp's (fastexp says why); where something
    # merges into the softmax, the weights are normalized after the value product.
    top = scores.max(axis=-1, keepdims=True)
    unnormalized = exp(scores - top)
    total = unnormalized.sum(axis=-1, keepdims=True)
    if sinks is None and memory is None:  # nothing to merge
        weights = unnormalized / total
        out = weights.astype(values.dtype) @ values
        return out.reshape(B, n_heads, L, -1).astype(queries.dtype), weights.sum(axis=2)
    log_mass = top + mx.log(total)
    if sinks is not None:
        log_mass = mx.logaddexp(log_mass, sinks.astype(mx.float32).reshape(1, n_kv, -1, 1, 1))
    if memory is not None:
        memory_out, memory_log_mass = memory
        memory_log_mass = memory_log_mass.astype(mx.float32).reshape(*grouped, 1)
        log_mass = mx.logaddexp(log_mass, memory_log_mass)
    norm = exp(top - log_mass)
    out = (unnormalized.astype(values.dtype) @ values) * norm.astype(values.dtype)
    if memory is not None:
        share = exp(memory_log_mass - log_mass)
        out = out + (share * memory_out.reshape(*grouped, -1)).astype(out.dtype)
    return out.reshape(B, n_heads, L, -1).astype(queries.dtype), (unnormalized * norm).sum(axis=2)


def blocked_attention(
    queries,
    keys,
    values,
    scale: float,
    mask=None,
    sinks=None,
    memory=None,
    block: int = QUERY_BLOCK,
):
    """explicit_attention over blocks of `block` queries, each block computed before the next is
    built: a chunk's score matrices then take a block's memory, not the whole chunk's, so peak
    memory barely depends on how many keys the cache holds."""
    L, n_kv, T = queries.shape[2], keys.shape[1], keys.shape[2]
    mask = _grouped_mask(mask, L, T, n_kv)  # every form, sliced by query rows below
    outs, weights = [], []
    for a in range(0, L, block):
        rows = slice(a, a + block)
        part = None if memory is None else tuple(x[:, :, rows] for x in memory)
        out, w = explicit_attention(
            queries[:, :, rows],
            keys,
            values,
            scale,
            None if mask is None else mask[..., rows, :],
            sinks,
            part,
        )
        mx.async_eval(out, w)
        outs.append(out)
        weights.append(w)
    return mx.concatenate(outs, axis=2), mx.concatenate(weights, axis=2)
