"""Residual-stream activations of a language model over real text, with per-token importance.

The text is tokenised once and cut into consecutive contexts of ``ctx``
tokens. For each context, one forward pass up to ``layer`` gives both the
residual stream after that layer (the SAE's input) and the attention every
token receives at that layer (:mod:`hebbian.sae.attention`). Position 0 of each
context (the attention sink) is dropped from the activations.

Besides the column sums (``received``), ``windowed`` keeps the attention each
token receives from the ``horizon`` queries starting at it
(:func:`attention.received_within`; NaN for the last tokens of a context),
the raw material of the position-corrected importance.

Collections are cached as ``.npz`` files (under ``runs/``, git-ignored) keyed
by everything that determines them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.models.base import create_attention_mask

from .attention import attention_probs, hidden_before, received_within


@dataclass(frozen=True)
class Activations:
    """Per-token rows (positions 1..ctx-1 of each context) and the contexts' token ids.

    ``x`` [N, D] residual stream after the layer; ``received`` [N] raw
    attention received (column sums); ``windowed`` [N] received from the next
    ``horizon`` queries (NaN where undefined);
    ``context`` and ``position`` [N] locate each row; ``tokens`` [C, ctx].
    """

    x: np.ndarray
    received: np.ndarray
    windowed: np.ndarray
    context: np.ndarray
    position: np.ndarray
    tokens: np.ndarray

    def rows(self, contexts: np.ndarray) -> np.ndarray:
        """Row indices of the given contexts."""
        return np.flatnonzero(np.isin(self.context, contexts))


def token_contexts(tokenizer, text: str, n_contexts: int, ctx: int) -> np.ndarray:
    """The first ``n_contexts`` consecutive ``ctx``-token windows of ``text``, shape [n_contexts, ctx]."""
    ids = np.asarray(tokenizer.encode(text), np.int64)
    need = n_contexts * ctx
    if ids.size < need:
        raise ValueError(f"the text has {ids.size} tokens, fewer than the {need} asked for")
    return ids[:need].reshape(n_contexts, ctx)


def collect(
    model,
    tokens: np.ndarray,
    layer: int,
    horizon: int = 32,
    batch: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> Activations:
    """Run ``tokens`` [C, ctx] through ``model`` up to ``layer``; ``on_batch(n_contexts_done)``."""
    n_ctx, ctx = tokens.shape
    block = model.model.layers[layer]
    xs, received, windowed = [], [], []
    for start in range(0, n_ctx, batch):
        chunk = mx.array(tokens[start : start + batch])
        h = hidden_before(model, chunk, layer)
        probs = attention_probs(block, h)
        out = block(h, create_attention_mask(h, None))
        mx.eval(out, probs)
        probs = np.array(probs)
        xs.append(np.array(out[:, 1:].astype(mx.float32)))
        received.append(probs.sum(axis=-2)[:, 1:])
        windowed.append(received_within(probs, horizon)[:, 1:])
        if on_batch is not None:
            on_batch(min(start + batch, n_ctx))
    x = np.concatenate(xs).reshape(-1, xs[0].shape[-1])
    context, position = np.divmod(np.arange(n_ctx * (ctx - 1)), ctx - 1)
    return Activations(
        x,
        np.concatenate(received).reshape(-1),
        np.concatenate(windowed).reshape(-1),
        context,
        position + 1,
        tokens,
    )


def cache_path(root: Path, **key) -> Path:
    """A file name under ``root`` that changes with any value in ``key``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"activations-{digest}.npz"


def save(acts: Activations, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **acts.__dict__)
    tmp.replace(path)


def load(path: Path) -> Activations:
    with np.load(path) as data:
        return Activations(**{k: data[k] for k in data.files})
