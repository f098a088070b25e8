"""HebbianCache: a bounded per-layer KV cache that scores its tokens and hands evicted ones on.

Each layer keeps the first `n_sink` tokens and a window of recent ones (optionally some slots of
the window go to older high-importance tokens, H2O's heavy hitters). A step runs in two halves:
`update_and_fetch` takes the L new tokens (mlx-lm's attention code passes on what it returns,
the buffers as they are); the engine's attention then runs the layer's step (`step`: one pure
function, step.layer_step, writes the tokens, reads the strategy's memory, attends and scores
what each token received; a steady decoding step runs it compiled), and the cache settles back
to n_sink + window tokens, handing the evicted ones, in sequence order, to the strategy.

Storage is preallocated and written in place (layout.py says which token sits where), so a
decoding step copies nothing and its evictions are a change of counts. Those counts (tokens seen,
evicted, the layout, the rotation base) are the same in every layer: they live in one Timeline
(timeline.py) that all of a model's caches share, worked out once per forward pass. Evicted
tokens leave attention at once; while decoding they reach the strategy in batches of
`hand_over`, which keeps consolidation off the per-token path (a chunk, a full batch or `flush`
hands them over).

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
from .rope import Rotary
from .snapshot import Snapshots
from .step import compiled_step, constant, own_slots, plain_step, put
from .timeline import Step, Timeline


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


class HebbianCache(Snapshots, _BaseCache):
    """One layer's bounded cache; see the module docstring. `rope` is the layer's RoPE module,
    needed for positions="cache" and to hand over position-free keys; `strategy` takes what it
    evicts (by default the null one, Off: nothing); `attn` is the layer's attention module, whose
    k_proj wrapper records layer inputs for strategies that want them; `timeline` holds the
    counters it shares with the model's other caches (by default, its own)."""

    def __init__(
        self,
        config: EngineConfig,
        layer: int = 0,
        rope: nn.Module | None = None,
        strategy: Strategy | None = None,
        attn: nn.Module | None = None,
        timeline: Timeline | None = None,
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
        self.timeline = timeline if timeline is not None else new_timeline(config, self.strategy)
        self.timeline.attach(self)
        self._buffers: dict[str, mx.array] = {}  # field -> (B, H or 1, slots, ...)
        self._head_keys = None  # positions="cache": sinks' and heavy hitters' keys, un-rotated
        # (head keys, the same turned to positions 0, 1, ...), for _head_turn
        self._head_from0 = None
        self._step: Step | None = None  # between update_and_fetch and step: the timeline's
        self._rows = None  # between update_and_fetch and step: the new tokens' rows
        # while a compiled whole step is traced: its host values, as arrays (trace_with)
        self._given: StepInputs | None = None

    _fixed = (
        "config",
        "layer",
        "strategy",
        "records_inputs",
        "tracks_links",
        "_rotary",
        "_attn",
        "timeline",
    )

    # the counters, kept by the timeline
    @property
    def seen(self) -> int:
        return self.timeline.seen

    @property
    def base(self) -> int:
        return self.timeline.base

    @property
    def evicted(self) -> int:
        return self.timeline.evicted

    @property
    def layout(self) -> Layout:
        return self.timeline.layout

    # --- what mlx-lm's models and generate use ---------------------------------------------

    @property
    def offset(self) -> int:
        """Where the model rotates the next token's query and key."""
        return self._given.offset if self._given is not None else self.timeline.offset

    def size(self) -> int:
        """Tokens attention sees between steps."""
        return self.layout.held

    def empty(self) -> bool:
        return not self._buffers

    def is_trimmable(self) -> bool:
        return False

    @property
    def nbytes(self) -> int:
        head = 0 if self._head_keys is None else self._head_keys.nbytes
        return sum(b.nbytes for b in self._buffers.values()) + head

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        """Join the forward pass's step and keep its new rows for `step`, which the engine's
        attention runs; what is returned is only what mlx-lm's attention code passes on (the
        buffers as they are: its shape fits the mask)."""
        B, H, L, _ = keys.shape
        decoding = L == 1 and self.steady  # as the step finds it
        step = self._step = self.timeline.join(self.layer, L)
        rows = {"keys": keys, "values": values}
        if self.records_inputs:
            rows["hidden"] = self._layer_inputs(B, H, L)
        if not decoding:
            # rows made on the host: arrays, not operations for every layer's step graph (a
            # decoding step makes its own in the compiled step, from its position)
            seen = step.seen
            positions = np.broadcast_to(np.arange(seen, seen + L, dtype=np.int32), (B, H, L))
            rows |= {"importance": constant((B, H, L), 0.0), "positions": mx.array(positions)}
            # links are not written: `link` starts the new tokens' links as it updates the others'
            links = (
                {"link_pos": constant((B, H, L), -1), "link_w": constant((B, H, L), 0.0)}
                if self.tracks_links
                else {}
            )
            self._reserve(rows | links, step.T)
        self._rows = rows
        return self._buffers["keys"][..., : step.T, :], self._buffers["values"][..., : step.T, :]

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
        _, _, T = self.layout.placement(N)
        skipped = self.layout.skipped(N)
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
        n = self.layout.prefix()
        state = [b[:, :, :n] for b in self._buffers.values()]
        return state + ([self._head_keys] if self._head_keys is not None else [])

    @property
    def meta_state(self) -> tuple[str, str, str]:
        counters = {
            "seen": self.seen,
            "base": self.base,
            "evicted": self.evicted,
            "head_at": self.timeline.head_at,
            "fields": list(self._buffers),
            "layout": asdict(self.layout),
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
        counters, t = json.loads(counters), cache.timeline
        fields = counters["fields"]
        t.seen, t.base, t.evicted = counters["seen"], counters["base"], counters["evicted"]
        t.head_at, t.layout = counters["head_at"], Layout(**counters["layout"])
        cache._buffers = dict(zip(fields, state))
        cache._head_keys = state[len(fields)] if len(state) > len(fields) else None
        return cache

    # --- what the engine uses ---------------------------------------------------------------

    @property
    def steady(self) -> bool:
        """Whether the window has filled: a decoding step's shapes no longer change."""
        return self.layout.wrapped

    @property
    def pending(self) -> int:
        """Tokens evicted but not yet handed to the strategy."""
        return self.layout.pending

    def memory_queries(self, queries: mx.array) -> mx.array:
        """A step's queries (between update_and_fetch and step) turned so that position-free
        keys score as if they sat config.recall_distance positions before each query."""
        if self._rotary is None:
            return queries
        return self._rotary.unrotate(queries, self._recall_offset(self._step.seen))

    def window_keys(self) -> tuple[np.ndarray, mx.array]:
        """The window's recent tokens (sinks and heavy hitters left out) as of the last step, in
        sequence order: their positions (n,) and keys (B, n_kv_heads, n, D), position-free where
        the cache turns keys (a consolidating mode, or positions="cache"), else as stored."""
        slots = mx.array(self.layout.recent_slots(), dtype=mx.int32)
        positions = mx.take(self._buffers["positions"], slots, axis=2)
        keys = self._free_keys(mx.take(self._buffers["keys"], slots, axis=2), positions)
        return np.array(positions[0, 0]), keys

    def held(self, name: str) -> mx.array:
        """A field ("keys", "importance", "positions", ...) of the tokens held, in sequence order."""
        lay = self.layout
        heavy = range(lay.n_sink + lay.ring, lay.n_sink + lay.ring + lay.heavy)
        slots = mx.array([*range(lay.sinks), *lay.recent_slots(), *heavy], dtype=mx.int32)
        order = mx.argsort(mx.take(self._buffers["positions"], slots, axis=2), axis=-1)
        return _take(mx.take(self._buffers[name], slots, axis=2), order)

    def step(
        self, queries: mx.array, scale: float, mask=None, sinks=None
    ) -> tuple[mx.array, list[mx.array]]:
        """The layer's step (step.layer_step: the new rows' writes, the head's turn, the memory
        read, the attention, importance and links), compiled when it is a steady decoding step,
        then its evictions. Returns the attention output and the arrays the step changed (the
        cache's and the strategy's state for this layer), which the output is tied to."""
        if self._step is None:
            raise RuntimeError(
                "HebbianCache.step without update_and_fetch: attention ran twice on one step"
            )
        s, rows, self._rows = self._step, self._rows, None
        decoding = s.L == 1 and self.steady
        # a compiled whole step's host values (arrays its trace follows), or else a decoding
        # step's, as arrays too: a compiled step takes what changes from step to step as inputs
        given = self._given
        if given is None and decoding:
            given = self._inputs_at(s.first, s.seen, self._head_turn(s.head_at))
        if given is not None:
            first, rest, seen, head = given.first, None, given.seen, given.head
        else:
            first, rest, seen = s.first, s.rest, constant((), s.seen)
            head = self._head_turn(s.head_at)
        strategy, memory = self.strategy, None
        if strategy.reads:
            if decoding:  # the queries' turn, one matrix, inside the compiled step
                turn = given.memory_turn
                state, memory_queries = strategy.memory_state(self.layer), None
            else:
                turn, memory_queries = None, self.memory_queries(queries)
                # what the step reads was chosen before it; a chunk's queries are seen after
                state = strategy.memory_state(self.layer)
                if s.L > 1:
                    strategy.observe(self.layer, memory_queries, scale, self)
            memory = None if state is None else (state, memory_queries, turn)
        links = None
        if self.tracks_links and decoding:  # from the slot it is given
            fresh = mx.arange(s.T, dtype=mx.int32) == first
            links = fresh[None], fresh
        elif self.tracks_links:
            links = own_slots(s.L, s.T, s.first)
        run = compiled_step if decoding else plain_step
        layer_step = run(
            s.T,
            scale,
            self.config.track_importance,
            self._head_slots(),
            strategy.read_state if strategy.reads else None,
        )
        out, self._buffers = layer_step(
            self._buffers, rows, first, rest, seen, queries, mask, sinks, head, memory, links
        )
        return out, self._settle()

    # --- what a compiled whole decoding step (compiled.py) uses -------------------------------

    def replayable(self) -> bool:
        """Whether the next decoding step can be replayed by a compiled call (Timeline.replayable)."""
        return self.timeline.replayable(self.strategy.consolidates)

    def steady_inputs(self, mask: mx.array | None) -> StepInputs:
        """The next (replayable) decoding step's host values, given its mask (the same for every
        layer). Nothing is recorded: the timeline's `advance` does that."""
        first, _, _ = self.layout.placement(1)
        head = self._head_turn(self.timeline.head_target())
        return self._inputs_at(first, self.seen, head, mask)

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
        self.timeline.check_settled()

    def trace_with(self, buffers: dict[str, mx.array], inputs: StepInputs) -> None:
        """Run the next step on these buffers and host values (arrays a trace follows)."""
        self._buffers, self._given = dict(buffers), inputs

    def replayed(self, buffers: dict[str, mx.array]) -> None:
        """End a replayed step: its new buffers (the timeline advances once for every layer)."""
        self._buffers = dict(buffers)

    def _settle(self) -> list[mx.array]:
        """Evict what the step pushed out of the window; the arrays the step changed."""
        step, self._step = self._step, None
        plan, first = step.plan, step.first
        if plan.sinks and self.config.positions == "cache":
            own = self._buffers["keys"][..., first : first + plan.sinks, :]
            head = self._rotary.unrotate(own, step.seen - self.base)
            self._head_keys = (
                head if self._head_keys is None else mx.concatenate([self._head_keys, head], axis=2)
            )
        if plan.hand_over:
            self._hand_over(plan.hand_over, plan.moves, step.T)
            if step.rebase:
                self._rebase(step.rebase)
        self.timeline.settled(self.layer)
        return list(self._buffers.values()) + self.strategy.layer_state(self.layer)

    def flush(self) -> None:
        """Hand the pending evicted tokens to the strategy now (in every layer of the timeline)."""
        slots = self.timeline.flush()
        if slots:
            for cache in self.timeline.caches:
                cache._hand_over(slots, [], self.layout.prefix())

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
        lay = self.layout
        slots = max(needed, lay.n_sink + lay.ring + lay.heavy_max + self.config.prefill_chunk)
        for name, x in rows.items():
            extra = mx.zeros((*x.shape[:2], slots - have, *x.shape[3:]), x.dtype)
            self._buffers[name] = (
                mx.concatenate([self._buffers[name], extra], axis=2) if have else extra
            )

    def _head_turn(self, at: int | None) -> tuple[mx.array, mx.array] | None:
        """Under positions="cache", at each step: (the sinks' and heavy hitters' keys turned to
        positions 0, 1, ..., the turn (rope.turned) to `at`, just before the oldest recent token),
        or None when they need not move (Timeline.head_target)."""
        if at is None:
            return None
        if self._head_from0 is None or self._head_from0[0] is not self._head_keys:
            self._head_from0 = self._head_keys, self._rotary.rotate(self._head_keys, 0)
        # one common shift for every row: a matrix product, not a RoPE per step
        return self._head_from0[1], self._rotary.turn_matrix(at, self._head_keys.shape[-1])

    def _head_slots(self) -> tuple[int, int]:
        """(sinks, slot of the first heavy hitter): where place_head writes the head."""
        return self.layout.sinks, self.layout.n_sink + self.layout.ring

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
        if not consolidates and not c.keep_important:  # counted by the timeline alone
            return
        index = mx.array(leaving, dtype=mx.int32)
        out = {name: mx.take(x, index, axis=2) for name, x in before.items()}
        free_keys = False
        if c.keep_important:
            out, free_keys = self._compete(out, before), c.positions == "cache"
        if out is None or not consolidates:
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
        c, lay, b = self.config, self.layout, self._buffers
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
        if c.positions == "cache":
            self._head_keys = mx.concatenate(
                [head[..., :S, :], _take(candidates["keys"], kept)], axis=2
            )
        return (
            None
            if returned is None
            else {name: _take(x, returned) for name, x in candidates.items()}
        )

    def _rebase(self, shift: int) -> None:
        """Move every rotation position back by `shift` (Timeline.plan): the oldest recent token
        then sits right after the head."""
        c, lay = self.config, self.layout
        keys = self._buffers["keys"]
        turned = self._rotary.turn(keys[..., c.n_sink : c.n_sink + lay.ring, :], -shift)
        self._buffers["keys"] = put(keys, turned, c.n_sink)


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


def new_timeline(config: EngineConfig, strategy: Strategy) -> Timeline:
    """The counters of caches that hand what they evict to `strategy`: in batches of hand_over,
    unless heavy hitters compete (at every step) or nothing is consolidated (nothing to batch)."""
    batch = config.hand_over if strategy.consolidates and not config.keep_important else 1
    return Timeline(config, batch)


def make_cache(model: nn.Module, config: EngineConfig, strategy: Strategy | None = None) -> list:
    """The model's prompt cache with a HebbianCache on every full-attention layer, handing what
    it evicts to `strategy` (by default the null one: nothing); one timeline counts for them all."""
    caches = _model_cache(model)
    strategy = strategy if strategy is not None else Off(config)
    timeline = new_timeline(config, strategy)
    for i in full_attention_layers(model):
        attn = getattr(model.layers[i], "self_attn", None)
        caches[i] = HebbianCache(config, i, getattr(attn, "rope", None), strategy, attn, timeline)
    return caches
