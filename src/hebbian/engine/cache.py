"""HebbianCache: a bounded per-layer KV cache that scores its tokens and hands evicted ones on.

Each layer keeps the first `n_sink` tokens and a window of recent ones (optionally some slots of
the window go to older high-importance tokens, H2O's heavy hitters). A step runs in two halves:
`update_and_fetch` stores the L new tokens and returns everything cached (so the new tokens see
n_sink + window + L keys); the engine's attention then calls `commit` with the attention each
token received, and the cache settles back to n_sink + window tokens, handing the evicted ones,
in sequence order, to the strategy. Once the window has filled, a decoding step's writes
wait for the attention, which runs them with the rest of the step as one compiled call
(`decode`, step.py).

Storage is preallocated and written in place (layout.py says which token sits where), so a
decoding step copies nothing and its evictions are a change of counts. Evicted tokens leave
attention at once; while decoding they reach the strategy in batches of `hand_over`, which
keeps consolidation off the per-token path (a chunk, a full batch or `flush` hands them over).

Position schemes (the model rotates a step's queries and keys at `cache.offset`):
- "original": offset is the number of tokens seen, so every key keeps its sequence position,
  as in mlx-lm's RotatingKVCache. Past the trained context, positions leave the trained range.
- "cache" (StreamingLLM): keys are placed at their index in the cache. RoPE scores depend only
  on the distance between query and key, and the recent tokens are consecutive, so they keep
  the rotation the model gave them on arrival; only the sinks and heavy hitters move (they are
  stored un-rotated and turned, at each step, to the positions just before the oldest recent
  token). Every few thousand tokens all positions are moved back by a common shift ("rebase")
  so that angles stay small and exact in float32.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.base import create_causal_mask
from mlx_lm.models.cache import KVCache, _BaseCache

from .config import EngineConfig
from .consolidation import Off, Strategy
from .evicted import Evicted
from .layout import Layout
from .rope import Rotary, turned
from .step import accumulate, constant, link, own_slots, place_head, put, steady_step


@dataclass(frozen=True)
class StepInputs:
    """What a steady decoding step of one layer takes from the host, as arrays. A step makes
    them from the cache's counters; a whole step compiled once and replayed (compiled.py) is
    given them instead, since its trace must not hold them as constants."""

    first: mx.array  # (1,) int32: the new token's slot
    seen: mx.array  # () int32: its sequence position
    offset: mx.array  # () int32: its rotation position (what the model's RoPE is given)
    head: tuple[mx.array, mx.array] | None = None  # _head_turn's
    memory_turn: mx.array | None = None  # the turn memory queries get (None without RoPE or read)
    mask: mx.array | None = None  # make_mask's


def _take(x: mx.array, index: mx.array) -> mx.array:
    """x[b, h, index[b, h, i]] along the token axis, for 3-d or 4-d x (heads broadcast)."""
    index = mx.broadcast_to(index, x.shape[:2] + index.shape[2:])
    return mx.take_along_axis(x, index[..., None] if x.ndim == 4 else index, axis=2)


class HebbianCache(_BaseCache):
    """One layer's bounded cache; see the module docstring. `rope` is the layer's RoPE module,
    needed for positions="cache" and to hand over position-free keys; `strategy` takes what it
    evicts (by default the null one, Off: nothing); `attn` is the layer's attention module, whose
    k_proj wrapper records layer inputs for strategies that want them."""

    REBASE_AT = 4096  # under positions="cache", rebase once offsets reach max(this, 2 * capacity)

    def __init__(
        self,
        config: EngineConfig,
        layer: int = 0,
        rope: nn.Module | None = None,
        strategy: Strategy | None = None,
        attn: nn.Module | None = None,
    ):
        if config.positions == "cache" and rope is None:
            raise ValueError(f"layer {layer}: positions='cache' needs the layer's RoPE module")
        self.config = config
        self.layer = layer
        self.strategy = strategy if strategy is not None else Off(config)
        self.records_inputs = self.strategy.records_inputs
        self.tracks_links = self.strategy.tracks_links
        needs_rotary = config.positions == "cache" or self.strategy.consolidates
        self._rotary = Rotary(rope) if needs_rotary and rope is not None else None
        self._attn = attn
        self._clear()

    def _clear(self) -> None:
        c = self.config
        # Heavy hitters compete at every step; with nothing consolidated nothing needs batching.
        batch = c.hand_over if self.strategy.consolidates and not c.keep_important else 1
        self._layout = Layout(c.n_sink, c.window - c.keep_important, c.keep_important, batch)
        self._buffers: dict[str, mx.array] = {}  # field -> (B, H or 1, slots, ...)
        self._head_keys = None  # positions="cache": sinks' and heavy hitters' keys, un-rotated
        self._head_at = None  # the position the head's first row is turned to in the buffer
        # (head keys, the same turned to positions 0, 1, ...), for _head_turn
        self._head_from0 = None
        # between update_and_fetch and commit: (L, first slot, slots read, seen before)
        self._step = None
        self._deferred = None  # a steady step's rows and head turn, until `decode` writes them
        self._given: StepInputs | None = None  # while a compiled whole step is traced
        self.seen = 0
        self.base = 0  # positions="cache": sequence position minus rotation position
        self.evicted = 0

    # --- what mlx-lm's models and generate use ---------------------------------------------

    @property
    def offset(self) -> int:
        """Where the model rotates the next token's query and key."""
        return self._given.offset if self._given is not None else self.seen - self.base

    def size(self) -> int:
        """Tokens attention sees between steps."""
        return self._layout.held

    def empty(self) -> bool:
        return not self._buffers

    def is_trimmable(self) -> bool:
        return False

    @property
    def nbytes(self) -> int:
        head = 0 if self._head_keys is None else self._head_keys.nbytes
        return sum(b.nbytes for b in self._buffers.values()) + head

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        self.check_settled()
        B, H, L, _ = keys.shape
        first, rest, T = self._layout.placement(L)
        rows = {"keys": keys, "values": values}
        if self.records_inputs:
            rows["hidden"] = self._layer_inputs(B, H, L)
        self._step = (L, first, T, self.seen)
        if L == 1 and self.steady:
            # Written by the fused step (`decode`), which the engine's attention runs; what is
            # returned is only what mlx-lm's attention code passes on (its shape fits the mask).
            self._deferred = (
                rows,
                self._given.head if self._given is not None else self._head_turn(),
            )
            self.seen += L
            return self._buffers["keys"][..., :T, :], self._buffers["values"][..., :T, :]
        # rows made on the host: arrays, not operations for every layer's step graph
        positions = np.broadcast_to(np.arange(self.seen, self.seen + L, dtype=np.int32), (B, H, L))
        rows |= {"importance": constant((B, H, L), 0.0), "positions": mx.array(positions)}
        # links are not written here: `link` starts the new tokens' links as it updates the others'
        links = (
            {"link_pos": constant((B, H, L), -1), "link_w": constant((B, H, L), 0.0)}
            if self.tracks_links
            else {}
        )
        self._reserve(rows | links, T)
        for name, x in rows.items():
            buffer = put(self._buffers[name], x[:, :, :1] if L > 1 else x, first)
            self._buffers[name] = put(buffer, x[:, :, 1:], rest) if L > 1 else buffer
        head = self._head_turn()
        if head is not None:
            self._buffers["keys"] = place_head(
                self._buffers["keys"], turned(*head), *self._head_slots()
            )
        self.seen += L
        return self._buffers["keys"][..., :T, :], self._buffers["values"][..., :T, :]

    def make_mask(self, N: int, window_size: int | None = None, return_array: bool = False):
        """The mask for the next step's N tokens (the model makes one per forward pass, from its
        first full-attention layer's cache, and hands it to every layer: all hold the same slots)."""
        if self._given is not None:
            return self._given.mask
        if window_size is not None and self.seen + N > window_size:
            raise ValueError(
                f"HebbianCache cannot serve a sliding-window layer (window {window_size}) past its "
                "window; keep the model's own cache for such layers (make_cache does)"
            )
        _, _, T = self._layout.placement(N)
        skipped = self._layout.skipped(N)
        if not skipped and not return_array:
            return None if N == 1 else "causal"
        # causal with the new tokens last (the first new one may sit earlier: all may see it)
        mask = create_causal_mask(N, T - N)
        if skipped:
            visible = np.ones(T, dtype=bool)
            visible[skipped] = False
            mask = mask & mx.array(visible)
        return mask

    @property
    def state(self) -> list[mx.array]:
        """The slots in use (in storage order) and, under positions="cache", the head's keys."""
        if not self._buffers:
            return []
        n = self._layout.prefix()
        state = [b[:, :, :n] for b in self._buffers.values()]
        return state + ([self._head_keys] if self._head_keys is not None else [])

    @property
    def meta_state(self) -> tuple[str, str, str]:
        counters = {
            "seen": self.seen,
            "base": self.base,
            "evicted": self.evicted,
            "head_at": self._head_at,
            "fields": list(self._buffers),
            "layout": asdict(self._layout),
        }
        return json.dumps(self.config.to_dict()), str(self.layer), json.dumps(counters)

    @classmethod
    def from_state(
        cls,
        state,
        meta_state,
        rope: nn.Module | None = None,
        strategy: Strategy | None = None,
        attn: nn.Module | None = None,
    ) -> HebbianCache:
        """Rebuild a cache from `state` and `meta_state`; RoPE, strategy and attention are not saved."""
        config, layer, counters = meta_state
        cache = cls(EngineConfig(**json.loads(config)), int(layer), rope, strategy, attn)
        counters = json.loads(counters)
        fields = counters["fields"]
        cache.seen, cache.base, cache.evicted = (
            counters["seen"],
            counters["base"],
            counters["evicted"],
        )
        cache._head_at, cache._layout = counters["head_at"], Layout(**counters["layout"])
        cache._buffers = dict(zip(fields, state))
        cache._head_keys = state[len(fields)] if len(state) > len(fields) else None
        return cache

    # --- what the engine uses ---------------------------------------------------------------

    @property
    def tracks_attention(self) -> bool:
        """Whether commit wants the step's attention weights."""
        return self.config.track_importance or self.tracks_links

    @property
    def steady(self) -> bool:
        """Whether the window has filled: a decoding step's shapes no longer change."""
        return self._layout.wrapped

    @property
    def pending(self) -> int:
        """Tokens evicted but not yet handed to the strategy."""
        return self._layout.pending

    def memory_queries(self, queries: mx.array) -> mx.array:
        """A step's queries (between update_and_fetch and commit) turned so that position-free
        keys score as if they sat config.recall_distance positions before each query."""
        if self._rotary is None:
            return queries
        return self._rotary.unrotate(queries, self._recall_offset(self._step[3]))

    def held(self, name: str) -> mx.array:
        """A field ("keys", "importance", "positions", ...) of the tokens held, in sequence order."""
        lay = self._layout
        heavy = range(lay.n_sink + lay.ring, lay.n_sink + lay.ring + lay.heavy)
        slots = mx.array([*range(lay.sinks), *lay.recent_slots(), *heavy], dtype=mx.int32)
        order = mx.argsort(mx.take(self._buffers["positions"], slots, axis=2), axis=-1)
        return _take(mx.take(self._buffers[name], slots, axis=2), order)

    def snapshot(self) -> dict:
        """Everything that changes as tokens go through, by reference (arrays are never mutated)."""
        snap = dict(vars(self))
        snap["_buffers"], snap["_layout"] = dict(self._buffers), Layout(**asdict(self._layout))
        return snap

    def restore(self, snapshot: dict) -> None:
        self.__dict__.update(snapshot)
        self._buffers, self._layout = (
            dict(snapshot["_buffers"]),
            Layout(**asdict(snapshot["_layout"])),
        )

    @property
    def deferred(self) -> bool:
        """Whether update_and_fetch left the step's writes to `decode` (a steady decoding step)."""
        return self._deferred is not None

    def decode(
        self, queries: mx.array, scale: float, mask=None, sinks=None
    ) -> tuple[mx.array, list[mx.array]]:
        """A steady decoding step as one compiled call (step.py): the token's writes, the head's
        turn, the memory read, the attention, importance and links. Returns the attention output
        and the arrays the step changed, as commit does."""
        (rows, head), self._deferred = self._deferred, None
        L, first, T, seen = self._step
        given = self._given or self._inputs_at(first, seen)
        links = None
        if self.tracks_links and self._given is None:
            links = own_slots(1, T, first)
        elif self.tracks_links:  # a trace: from the slot it is given
            fresh = mx.arange(T, dtype=mx.int32) == given.first
            links = fresh[None], fresh
        reads = self.strategy.reads
        state = self.strategy.memory_state(self.layer) if reads else None
        memory = (state, given.memory_turn) if state is not None else None
        step = steady_step(
            T,
            scale,
            self.config.track_importance,
            self._head_slots(),
            self.strategy.read_state if reads else None,
        )
        out, self._buffers = step(
            self._buffers, rows, given.first, given.seen, queries, mask, sinks, head, memory, links
        )
        return out, self._settle()

    # --- what a compiled whole decoding step (compiled.py) uses -------------------------------

    def replayable(self) -> bool:
        """Whether the next decoding step is steady and changes nothing but its arrays and the
        counters: it hands no tokens over, or hands them over to be counted only (a strategy
        that consolidates nothing, no heavy hitters), and no rebase is due."""
        c, lay = self.config, self._layout
        if not self.steady:
            return False
        if lay.pending + 1 < lay.batch:
            return True
        return (
            not self.strategy.consolidates
            and not c.keep_important
            and not self._rebase_due(self.seen + 1)
        )

    def steady_inputs(self, mask: mx.array | None) -> StepInputs:
        """The next (replayable) decoding step's host values, given its mask (the same for every
        layer). Nothing is recorded: `advance` does that."""
        first, _, _ = self._layout.placement(1)
        return self._inputs_at(first, self.seen, self._head_turn(record=False), mask)

    def _inputs_at(self, first: int, seen: int, head=None, mask=None) -> StepInputs:
        """A decoding step's host values for a token at slot `first` and position `seen`, as new
        arrays, not the lru-cached ones: the compiled step reads those as constants (put's slot
        0), and a compiled call refuses an input that is also one of its constants."""
        turn = self._memory_turn(seen) if self.strategy.reads else None
        return StepInputs(
            mx.array([first], dtype=mx.int32),
            mx.array(seen, dtype=mx.int32),
            mx.array(seen - self.base, dtype=mx.int32),
            head,
            turn,
            mask,
        )

    @property
    def buffers(self) -> dict[str, mx.array]:
        """The cache's buffers (field -> array): what a step reads and replaces, not mutates."""
        return self._buffers

    def check_settled(self) -> None:
        """Raise unless the last step reached the engine's attention (as the next one would)."""
        if self._step is not None:
            raise RuntimeError(
                "HebbianCache: the step never reached the engine's attention; "
                "run the model inside hebbian.engine.patched(model)"
            )

    def trace_with(self, buffers: dict[str, mx.array], inputs: StepInputs) -> None:
        """Run the next step on these buffers and host values (arrays a trace follows)."""
        self._buffers, self._given = dict(buffers), inputs

    def advance(self, buffers: dict[str, mx.array]) -> None:
        """End a replayed step: its new buffers, and what it does to the counters."""
        at = self._head_target()
        self._head_at = self._head_at if at is None else at
        first, _, T = self._layout.placement(1)
        self.evicted += len(self._layout.settle(1, first, T).hand_over)
        self._buffers = dict(buffers)
        self.seen += 1

    def commit(self, attention: mx.array | None) -> list[mx.array]:
        """End the step with the attention each query gave each token, (B, n_kv_heads, L, T)
        summed over the group's query heads (None when not tracked); then evict. Returns the
        arrays the step changed (the cache's and the strategy's state for this layer)."""
        if self._step is None:
            raise RuntimeError(
                "HebbianCache.commit without update_and_fetch: attention ran twice on one step"
            )
        L, first, T, seen = self._step
        if attention is not None:
            if self.config.track_importance:
                self._buffers["importance"] = accumulate(self._buffers["importance"], attention)
            if self.tracks_links:
                link(self._buffers, attention, *own_slots(L, T, first), constant((), seen))
        return self._settle()

    def _settle(self) -> list[mx.array]:
        """Evict what the step pushed out of the window; the arrays the step changed."""
        L, first, T, seen = self._step
        self._step = None
        plan = self._layout.settle(L, first, T)
        if plan.sinks and self.config.positions == "cache":
            own = self._buffers["keys"][..., first : first + plan.sinks, :]
            head = self._rotary.unrotate(own, seen - self.base)
            self._head_keys = (
                head if self._head_keys is None else mx.concatenate([self._head_keys, head], axis=2)
            )
        if plan.hand_over:
            self._hand_over(plan.hand_over, plan.moves, T)
            if self._rebase_due(self.seen):
                self._rebase()
        return list(self._buffers.values()) + self.strategy.layer_state(self.layer)

    def flush(self) -> None:
        """Hand the pending evicted tokens to the strategy now."""
        slots = self._layout.flush()
        if slots:
            self._hand_over(slots, [], self._layout.prefix())

    # --- internals -------------------------------------------------------------------------------

    def _layer_inputs(self, B: int, H: int, L: int) -> mx.array:
        take = getattr(getattr(self._attn, "k_proj", None), "take_input", None)
        x = take() if take is not None else None
        if x is None:
            raise RuntimeError(
                f"layer {self.layer}: mode {self.config.mode!r} needs the layer inputs; run the model inside "
                "hebbian.engine.patched(model, strategy)"
            )
        # heads keep different tokens only with heavy hitters
        heads = H if self.config.keep_important else 1
        return mx.broadcast_to(x[:, None], (B, heads, L, x.shape[-1]))

    def _reserve(self, rows: dict[str, mx.array], needed: int) -> None:
        """Make every buffer at least `needed` slots long. The first call allocates what a step of
        up to prefill_chunk tokens can need at most, so that the memory held stays the same from
        the first chunk on (a longer step, from a caller feeding more at once, grows them)."""
        have = next(iter(self._buffers.values())).shape[2] if self._buffers else 0
        if needed <= have:
            return
        lay = self._layout
        slots = max(needed, lay.n_sink + lay.ring + lay.heavy_max + self.config.prefill_chunk)
        for name, x in rows.items():
            extra = mx.zeros((*x.shape[:2], slots - have, *x.shape[3:]), x.dtype)
            self._buffers[name] = (
                mx.concatenate([self._buffers[name], extra], axis=2) if have else extra
            )

    def _head_turn(self, record: bool = True) -> tuple[mx.array, mx.array] | None:
        """Under positions="cache", at each step: (the sinks' and heavy hitters' keys turned to
        positions 0, 1, ..., the turn (rope.turned) to just before the oldest recent token),
        or None when they need not move (only sinks so far, at their own positions, or no step
        since the last turn). `record`: note the turn as taken (`advance` does it otherwise)."""
        at = self._head_target()
        if at is None:
            return None
        if self._head_from0 is None or self._head_from0[0] is not self._head_keys:
            self._head_from0 = self._head_keys, self._rotary.rotate(self._head_keys, 0)
        if record:
            self._head_at = at
        # one common shift for every row: a matrix product, not a RoPE per step
        return self._head_from0[1], self._rotary.turn_matrix(at, self._head_keys.shape[-1])

    def _head_target(self) -> int | None:
        """Where the next step turns the head's first row to, or None when it need not move."""
        lay = self._layout
        if self.config.positions != "cache" or not lay.recent or self._head_keys is None:
            return None
        at = self.seen - lay.recent - self.base - lay.sinks - lay.heavy
        return None if at == self._head_at else at

    def _head_slots(self) -> tuple[int, int]:
        """(sinks, slot of the first heavy hitter): where place_head writes the head."""
        return self._layout.sinks, self._layout.n_sink + self._layout.ring

    def _memory_turn(self, seen: int) -> mx.array | None:
        """The turn memory_queries gives a single query at `seen` (None without RoPE)."""
        if self._rotary is None:
            return None
        return self._rotary.turn_matrix(-self._recall_offset(seen), self._buffers["keys"].shape[-1])

    def _recall_offset(self, seen: int) -> int:
        """The rotation position that memory queries are turned back from, for a query at `seen`."""
        return seen - self.base - self.config.recall_at

    def _free_keys(self, keys: mx.array, positions: mx.array) -> mx.array:
        """Keys stored at rotation position (sequence position - base), made position-free."""
        return (
            keys if self._rotary is None else self._rotary.unrotate_at(keys, positions - self.base)
        )

    def _hand_over(self, leaving: list[int], moves: list[int], T: int) -> None:
        """Take the leaving tokens out (to the heavy hitters or the strategy) and move the
        staying recent tokens to the ring's start. Everything is read before anything is
        written: the heavy hitters' slots may hold this step's new tokens."""
        c, b = self.config, self._buffers
        before = dict(b)
        if moves:
            index = mx.array(moves, dtype=mx.int32)
            for name, x in before.items():
                b[name] = put(b[name], mx.take(x, index, axis=2), c.n_sink)
        consolidates = self.strategy.consolidates
        if not consolidates and not c.keep_important:
            self.evicted += len(leaving)
            return
        index = mx.array(leaving, dtype=mx.int32)
        out = {name: mx.take(x, index, axis=2) for name, x in before.items()}
        free_keys = False
        if c.keep_important:
            out, free_keys = self._compete(out, before), c.positions == "cache"
        if out is None:
            return
        self.evicted += out["positions"].shape[-1]
        if not consolidates:
            return
        keys = out["keys"] if free_keys else self._free_keys(out["keys"], out["positions"])
        linked = self._linked(before, out["link_pos"], T) if self.tracks_links else (None, None)
        self.strategy.consolidate(
            self.layer,
            Evicted(
                keys,
                out["values"],
                out["importance"],
                out["positions"],
                out.get("hidden"),
                *linked,
            ),
        )

    @staticmethod
    def _linked(
        before: dict[str, mx.array], link_pos: mx.array, T: int
    ) -> tuple[mx.array, mx.array]:
        """The layer inputs of the tokens at `link_pos`, and whether each is still held."""
        match = before["positions"][..., None, :T] == link_pos[..., None]
        slot = mx.argmax(match, axis=-1)
        hidden = mx.take_along_axis(before["hidden"][..., :T, :], slot[..., None], axis=2)
        return hidden, match.any(axis=-1)

    def _compete(
        self, out: dict[str, mx.array], before: dict[str, mx.array]
    ) -> dict[str, mx.array] | None:
        """Leaving tokens join the heavy hitters; each head keeps the keep_important most important
        of them and returns the rest (None while there is room for all). Under positions="cache"
        the heavy hitters' keys are kept un-rotated, and so are the returned ones."""
        c, lay, b = self.config, self._layout, self._buffers
        K, S, at = c.keep_important, c.n_sink, c.n_sink + lay.ring
        candidates = {
            n: mx.concatenate([before[n][:, :, at : at + lay.heavy], x], axis=2)
            for n, x in out.items()
        }
        if c.positions == "cache":
            head = self._head_keys if self._head_keys is not None else out["keys"][..., :0, :]
            leaving = self._free_keys(out["keys"], out["positions"])
            candidates["keys"] = mx.concatenate([head[..., S:, :], leaving], axis=2)
        n = candidates["importance"].shape[-1]
        if n <= K:
            kept, returned = mx.arange(n)[None, None], None
        else:
            order = mx.argsort(-candidates["importance"], axis=-1)
            kept, returned = mx.sort(order[..., :K], axis=-1), mx.sort(order[..., K:], axis=-1)
        for name, x in candidates.items():
            b[name] = put(b[name], _take(x, kept), at)
        lay.heavy = min(n, K)
        if c.positions == "cache":
            self._head_keys = mx.concatenate(
                [head[..., :S, :], _take(candidates["keys"], kept)], axis=2
            )
            self._head_at = None
        return (
            None
            if returned is None
            else {name: _take(x, returned) for name, x in candidates.items()}
        )

    def _rebase_due(self, seen: int) -> bool:
        """Whether a hand-over with `seen` tokens seen rebases (positions="cache" only)."""
        c = self.config
        return c.positions == "cache" and seen - self.base >= max(self.REBASE_AT, 2 * c.capacity)

    def _rebase(self) -> None:
        """Move every rotation position back so the oldest recent token sits right after the head."""
        c, lay = self.config, self._layout
        shift = self.seen - lay.recent - self.base - (c.n_sink + c.keep_important)
        keys = self._buffers["keys"]
        turned = self._rotary.turn(keys[..., c.n_sink : c.n_sink + lay.ring, :], -shift)
        self._buffers["keys"] = put(keys, turned, c.n_sink)
        self.base += shift
        self._head_at = None


def _model_cache(model: nn.Module) -> list:
    return model.make_cache() if hasattr(model, "make_cache") else [KVCache() for _ in model.layers]


def full_attention_layers(model: nn.Module) -> list[int]:
    """The layers make_cache gives a HebbianCache: those for which the model makes a plain KVCache.

    Layers for which the model makes another cache (sliding-window layers get a bounded
    RotatingKVCache, for example) keep it: their window is part of how the model was trained.
    """
    layers = [i for i, cache in enumerate(_model_cache(model)) if type(cache) is KVCache]
    if not layers:
        raise ValueError(
            f"{type(model).__module__} has no full-attention layer for the engine's cache"
        )
    return layers


def make_cache(model: nn.Module, config: EngineConfig, strategy: Strategy | None = None) -> list:
    """The model's prompt cache with a HebbianCache on every full-attention layer, handing what
    it evicts to `strategy` (by default the null one: nothing)."""
    caches = _model_cache(model)
    strategy = strategy if strategy is not None else Off(config)
    for i in full_attention_layers(model):
        attn = getattr(model.layers[i], "self_attn", None)
        caches[i] = HebbianCache(config, i, getattr(attn, "rope", None), strategy, attn)
    return caches
