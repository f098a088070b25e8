"""Text generation and scoring with the recurrent form of BDH's attention.

The prompt is read in one parallel pass that leaves each layer's attention state; every
new byte then costs one step against that fixed-size state, whatever the length so far.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .data import encode
from .model import BDH


def generate(
    model: BDH,
    prompt: str | bytes,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    fast_weights: mx.array | None = None,
) -> bytes:
    """Continue ``prompt`` by ``max_new_tokens`` bytes (decode with ``data.decode``); temperature 0 is greedy."""
    if not prompt:
        raise ValueError("the prompt must not be empty")
    model.eval()
    key = mx.random.key(seed)
    ids = mx.array(encode(prompt).astype(np.int32))[None]
    out = model.forward(ids, fast_weights=fast_weights)
    offset, new = ids.shape[1], []
    for _ in range(max_new_tokens):
        logits = out.logits[:, -1, :]
        if temperature == 0:
            nxt = mx.argmax(logits, axis=-1)
        else:
            logits = logits / temperature
            if top_k is not None and top_k < logits.shape[-1]:
                kth = mx.sort(logits, axis=-1)[:, -top_k][:, None]
                logits = mx.where(logits < kth, -mx.inf, logits)
            key, sub = mx.random.split(key)
            nxt = mx.random.categorical(logits, key=sub)
        new.append(nxt.item())
        out = model.forward(
            nxt[:, None], states=out.states, offset=offset, fast_weights=fast_weights
        )
        offset += 1
    return bytes(new)


def continuation_logprob(
    model: BDH, prompt: str | bytes, continuation: str | bytes, fast_weights: mx.array | None = None
) -> float:
    """log p(continuation | prompt) in nats, summed over the continuation's bytes."""
    p, c = encode(prompt), encode(continuation)
    if len(p) == 0 or len(c) == 0:
        raise ValueError("prompt and continuation must both be non-empty")
    model.eval()
    ids = mx.array(np.concatenate([p, c]).astype(np.int32))[None]
    logits = model.forward(ids[:, :-1], fast_weights=fast_weights).logits[0, len(p) - 1 :]
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    targets = mx.array(c.astype(np.int32))
    return mx.take_along_axis(logp, targets[:, None], axis=-1).sum().item()
