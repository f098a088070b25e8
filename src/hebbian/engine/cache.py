"""HebbianCache: a bounded per-layer KV cache that scores its tokens and hands evicted ones on.

Each layer keeps the first `n_sink` tokens and a window of recent ones (optionally some slots of
the window go to older high-importance tokens, H2O's heavy hitters). A step runs in two halves:
`update_and_fetch` appends the new tokens and returns everything cached (so a chunk of L new
tokens briefly makes the cache n_sink + window + L long); the engine's attention then calls
`commit` with the attention each token received, and the cache evicts back down to
n_sink + window, handing the evicted tokens, in order, to the consolidator.

Position schemes (the model rotates queries and new keys at `cache.offset`):
- "original": offset is the number of tokens seen, so every key keeps its sequence position,
  as in mlx-lm's RotatingKVCache. Past the trained context, positions leave the trained range.
- "cache" (StreamingLLM): offset is the cache's length and each key sits at its index in the
  cache, whatever was evicted before it. The cache stores keys without their rotation (undone on
  arrival, at the small position the model just gave them) and rotates the whole cache to
  0..T-1 on each fetch. Re-rotating stored keys in place by the shift at each eviction would
  round them once per eviction, which in bf16/fp16 adds up over thousands of steps, and with
  heavy hitters kept the shifts differ per token; rotating from un-rotated keys rounds once and
  is one plain RoPE call, about what re-rotating at each eviction costs in decoding anyway.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Protocol

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.base import create_causal_mask
from mlx_lm.models.cache import KVCache, _BaseCache

from .config import EngineConfig
from .rope import Rotary


class Consolidator(Protocol):
    """Receives each batch of evicted tokens of one layer.

    keys, values: (B, n_kv_heads, E, D), keys rotated as attention last saw them (at their
    original positions, or at their last index in the cache under positions="cache");
    importance: (B, n_kv_heads, E) attention received; positions: (B, n_kv_heads, E) int32
    positions in the sequence, ascending. Heads differ only when keep_important > 0.
    A consolidator may also define `read(layer, queries, scale)`, the memory read-out that the
    engine's attention merges into the softmax (see attention.MemoryReader).
    """

    def consolidate(self, layer: int, keys: mx.array, values: mx.array,
                    importance: mx.array, positions: mx.array) -> None: ...


def _take(x: mx.array, index: mx.array) -> mx.array:
    """x[b, h, index[b, h, i]] along the token axis (axis 2), for 3-d or 4-d x."""
    return mx.take_along_axis(x, index[..., None] if x.ndim == 4 else index, axis=2)


class HebbianCache(_BaseCache):
    """One layer's bounded cache; see the module docstring. `rope` is the layer's RoPE module,
    needed for positions="cache"."""

    def __init__(self, config: EngineConfig, layer: int = 0, rope: nn.Module | None = None,
                 consolidator: Consolidator | None = None):
        if config.positions == "cache" and rope is None:
            raise ValueError(f"layer {layer}: positions='cache' needs the layer's RoPE module")
        self.config = config
        self.layer = layer
        self.consolidator = consolidator
        self._rotary = Rotary(rope) if config.positions == "cache" else None
        self.keys = self.values = None  # keys un-rotated under positions="cache"
        self.importance = None  # (B, n_kv_heads, T) float32, attention received so far
        self.positions = None  # (B, n_kv_heads, T) int32, position in the sequence
        self.seen = 0
        self._fetched = None  # keys as handed to attention, between update_and_fetch and commit

    # --- what mlx-lm's models and generate use ---------------------------------------------

    @property
    def offset(self) -> int:
        """Where the model rotates the next token's query and key."""
        return self.size() if self.config.positions == "cache" else self.seen

    def size(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def empty(self) -> bool:
        return self.keys is None

    def is_trimmable(self) -> bool:
        return False

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for x in self.state)

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        if self._fetched is not None:
            raise RuntimeError(
                "HebbianCache: the previous step never reached the engine's attention; "
                "run the model inside hebbian.engine.patched(model)"
            )
        B, H, L, _ = keys.shape
        if self._rotary is not None:
            keys = self._rotary.unrotate(keys, self.size())
        positions = mx.broadcast_to(mx.arange(self.seen, self.seen + L, dtype=mx.int32), (B, H, L))
        new = (keys, values, mx.zeros((B, H, L), mx.float32), positions)
        if self.keys is None:
            self.state = new
        else:
            self.state = [mx.concatenate([old, x], axis=2) for old, x in zip(self.state, new)]
        self.seen += L
        self._fetched = self.keys if self._rotary is None else self._rotary.rotate(self.keys, 0)
        return self._fetched, self.values

    def make_mask(self, N: int, window_size: int | None = None, return_array: bool = False):
        # New tokens always sit at the end, after everything cached, in every layer.
        if window_size is not None and self.seen + N > window_size:
            raise ValueError(
                f"HebbianCache cannot serve a sliding-window layer (window {window_size}) past its "
                "window; keep the model's own cache for such layers (make_cache does)"
            )
        if return_array:
            return create_causal_mask(N, self.size())
        return None if N == 1 else "causal"

    @property
    def state(self) -> list[mx.array]:
        if self.keys is None:
            return []
        return [self.keys, self.values, self.importance, self.positions]

    @state.setter
    def state(self, v) -> None:
        self.keys, self.values, self.importance, self.positions = v if v else (None,) * 4

    @property
    def meta_state(self) -> tuple[str, str, str]:
        return json.dumps(asdict(self.config)), str(self.layer), str(self.seen)

    @classmethod
    def from_state(cls, state, meta_state=None, rope: nn.Module | None = None,
                   consolidator: Consolidator | None = None) -> HebbianCache:
        """Rebuild a cache from `state` and `meta_state`; RoPE and consolidator are not saved."""
        config, layer, seen = meta_state
        cache = cls(EngineConfig(**json.loads(config)), int(layer), rope, consolidator)
        cache.state = state
        cache.seen = int(seen)
        return cache

    # --- what the engine's attention uses -----------------------------------------------------

    def commit(self, received: mx.array | None) -> None:
        """End the step: add the attention received, (B, n_kv_heads, T), if tracked; then evict."""
        if self._fetched is None:
            raise RuntimeError("HebbianCache.commit without update_and_fetch: attention ran twice on one step")
        if received is not None:
            self.importance = self.importance + received
        fetched, self._fetched = self._fetched, None
        self._evict(fetched)

    def _evict(self, fetched: mx.array) -> None:
        c, T = self.config, self.size()
        excess = T - c.capacity
        if excess <= 0:
            return
        recent = c.window - c.keep_important
        B, H = self.importance.shape[:2]
        # Candidates lie between the sinks and the protected recent tail: keep the
        # keep_important most important of them, evict the rest (all of them when it is 0).
        candidates = self.importance[..., c.n_sink:T - recent]
        order = mx.argsort(-candidates, axis=-1) + c.n_sink
        evicted = mx.sort(order[..., c.keep_important:], axis=-1)
        keep = mx.concatenate([
            mx.broadcast_to(mx.arange(c.n_sink), (B, H, c.n_sink)),
            mx.sort(order[..., :c.keep_important], axis=-1),
            mx.broadcast_to(mx.arange(T - recent, T), (B, H, recent)),
        ], axis=-1)
        if self.consolidator is not None:
            self.consolidator.consolidate(
                self.layer, _take(fetched, evicted), _take(self.values, evicted),
                _take(self.importance, evicted), _take(self.positions, evicted),
            )
        self.state = [_take(x, keep) for x in self.state]


def make_cache(model: nn.Module, config: EngineConfig,
               consolidator: Consolidator | None = None) -> list:
    """The model's prompt cache with a HebbianCache on every full-attention layer.

    Layers for which the model makes another cache (sliding-window layers get a bounded
    RotatingKVCache, for example) keep it: their window is part of how the model was trained.
    """
    base = model.make_cache() if hasattr(model, "make_cache") else [KVCache() for _ in model.layers]
    caches = [
        HebbianCache(config, i, getattr(getattr(layer, "self_attn", None), "rope", None), consolidator)
        if type(cache) is KVCache else cache
        for i, (layer, cache) in enumerate(zip(model.layers, base))
    ]
    if not any(isinstance(c, HebbianCache) for c in caches):
        raise ValueError(f"{type(model).__module__} has no full-attention layer for the engine's cache")
    return caches
