"""Splice a transform of one layer's output into a model, and the CE loss it leads to.

:func:`spliced` swaps ``model.model.layers[i]`` for a :class:`Spliced`
wrapper whose ``__call__`` runs the original block and transforms its output
(the residual stream after block i), and puts the original back on exit, even
after an error. The first ``keep`` positions pass through untouched: position 0
of these models is the attention sink, with a residual norm ~100x the others',
and is left out of SAE training for the same reason.

:func:`next_token_ce` is the mean next-token cross-entropy of a batch; running
it clean, with the SAE's reconstruction spliced in, and with the output zeroed
gives the three numbers of the CE-loss-recovered score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import mlx.core as mx
import mlx.nn as nn

Transform = Callable[[mx.array], mx.array]


class Spliced(nn.Module):
    """A block whose output at positions >= ``keep`` is replaced by ``transform(output)``.

    Attribute reads it does not define (``use_sliding`` and the like, which the
    model's forward pass consults) fall through to the wrapped block.
    """

    def __init__(self, inner: nn.Module, transform: Transform, keep: int = 1):
        super().__init__()
        self.inner = inner
        self.transform = transform
        self.keep = keep

    def __getattr__(self, key):
        try:
            return super().__getattr__(key)
        except AttributeError:
            return getattr(super().__getattr__("inner"), key)

    def __call__(self, x: mx.array, *args, **kwargs) -> mx.array:
        out = self.inner(x, *args, **kwargs)
        return mx.concatenate([out[:, : self.keep], self.transform(out[:, self.keep :])], axis=1)


@contextmanager
def spliced(model, layer: int, transform: Transform, keep: int = 1) -> Iterator[Spliced]:
    """Within the block, ``model.model.layers[layer]`` is wrapped by ``transform``."""
    layers = model.model.layers
    original = layers[layer]
    layers[layer] = Spliced(original, transform, keep)
    try:
        yield layers[layer]
    finally:
        layers[layer] = original


def next_token_ce(model, tokens: mx.array, start: int = 1) -> tuple[float, int]:
    """(summed CE in nats, count) of predicting tokens[:, start+1:] from positions start..T-2."""
    logits = model(tokens)[:, start:-1].astype(mx.float32)
    targets = tokens[:, start + 1 :]
    ce = nn.losses.cross_entropy(logits, targets, reduction="sum")
    return float(ce.item()), int(targets.size)


def mean_ce(model, batches: list[mx.array], start: int = 1) -> float:
    """Token-weighted mean next-token CE over several [B, T] batches."""
    total, count = 0.0, 0
    for tokens in batches:
        ce, n = next_token_ce(model, tokens, start)
        total, count = total + ce, count + n
    return total / count
