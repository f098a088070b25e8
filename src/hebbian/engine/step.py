"""One layer's step (`layer_step`): what it writes into a HebbianCache's buffers, reads and attends.

The buffers (B, H or 1, slots, ...) are written in place: every helper here returns a
slice_update of its input, which the cache then holds instead of the old array, so nothing is
copied. The helpers are pure functions of arrays, and so is `layer_step`, the one step every
layer runs: prompt chunks and the first tokens call it as it is, steady decoding steps compiled,
and a compiled whole step (compiled.py) traces it with the rest of the model.

Once the window has filled, every decoding step has the same shapes, and what the cache and the
engine's attention do per layer (write the token's rows, turn the sinks into place, read the
memory, attend, accumulate importance, update the links) is a few dozen small operations. On a
CPU those cost Python calls and graph bookkeeping rather than arithmetic (the engine's build
time per step was about twice mlx-lm's own), so a steady step runs as one compiled call per
layer: traced once per configuration and shape, its elementwise chains fused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache, partial
from importlib import import_module

import mlx.core as mx
import numpy as np

from .rope import turned

# attention.py, whose `attend` a step looks up at each call (hebbian.engine's own `attention`
# attribute is that module's function, so the module is fetched by its name)
_attention = import_module(f"{__package__}.attention")


@cache
def slot_index(at: int) -> mx.array:
    return mx.array([at], dtype=mx.int32)


@lru_cache(maxsize=16)
def constant(shape: tuple[int, ...], value: float | int) -> mx.array:
    """A constant block (int32 for an int value, else float32), made once."""
    return mx.array(np.full(shape, value, np.int32 if isinstance(value, int) else np.float32))


def put(buffer: mx.array, rows: mx.array, at: int | mx.array) -> mx.array:
    """`rows` written into `buffer` along the token axis from slot `at` (an int or an index array)."""
    return mx.slice_update(
        buffer, rows, at if isinstance(at, mx.array) else slot_index(at), axes=(2,)
    )


def accumulate(importance: mx.array, attention: mx.array) -> mx.array:
    """Importance plus the attention a step's queries gave the T slots it read, (B, H, L, T)."""
    received = attention[:, :, 0] if attention.shape[2] == 1 else attention.sum(axis=2)
    return put(importance, importance[..., : received.shape[-1]] + received, 0)


def place_head(keys: mx.array, head: mx.array, sinks: int, heavy_at: int) -> mx.array:
    """The head's rows (sinks first, then heavy hitters) written to their slots."""
    if sinks:
        keys = put(keys, head[..., :sinks, :], 0)
    if head.shape[-2] > sinks:
        keys = put(keys, head[..., sinks:, :], heavy_at)
    return keys


def strongest(attention, own, fresh, seen, link_w, link_pos) -> tuple[mx.array, mx.array]:
    """(link_w, link_pos) updated with a step's attention (B, H, L, T): a token's strongest
    attender so far, by weight, and its position (the step's first query sits at `seen`).
    own (L, T): a new token's attention to itself, which does not count; fresh (T,): the slots
    of the step's new tokens, whose links start empty (their old values are a former token's)."""
    if attention.shape[2] == 1:  # decoding (own is fresh): fewer operations, the same result
        best = attention[:, :, 0]
        better = best > link_w
        return (
            mx.where(fresh, 0.0, mx.where(better, best, link_w)),
            mx.where(fresh, -1, mx.where(better, seen, link_pos)),
        )
    link_w, link_pos = mx.where(fresh, 0.0, link_w), mx.where(fresh, -1, link_pos)
    attention = mx.where(own, 0.0, attention)
    best, who = attention.max(axis=2), attention.argmax(axis=2).astype(mx.int32) + seen
    better = best > link_w
    return mx.where(better, best, link_w), mx.where(better, who, link_pos)


def link(buffers: dict[str, mx.array], attention: mx.array, own, fresh, seen) -> None:
    """Update the link fields of `buffers` (in the dict) with a step's attention."""
    T = attention.shape[-1]
    w, pos = strongest(
        attention, own, fresh, seen, buffers["link_w"][..., :T], buffers["link_pos"][..., :T]
    )
    buffers["link_w"], buffers["link_pos"] = (
        put(buffers["link_w"], w, 0),
        put(buffers["link_pos"], pos, 0),
    )


@lru_cache(maxsize=4)
def own_slots(L: int, T: int, first: int) -> tuple[mx.array, mx.array]:
    """(own, fresh) for `strongest`, made once per step for all layers: the new tokens sit at
    `first` and at the last L - 1 of the T slots."""
    own = np.zeros((L, T), dtype=bool)
    own[np.arange(L), [first, *range(T - L + 1, T)]] = True
    return mx.array(own), mx.array(own.any(axis=0))


def layer_step(
    buffers,
    rows,
    first,
    rest,
    seen,
    queries,
    mask,
    sinks,
    head,
    memory,
    links,
    *,
    T: int,
    scale: float,
    track: bool,
    head_slots: tuple[int, int],
    read: Callable | None,
):
    """One layer's step, whatever it is (a prompt chunk, a decoding step, inside a compiled whole
    step or not): (attention output, the new buffers). A pure function of arrays.

    rows: the new tokens' "keys", "values" (and "hidden"), with their "importance" and
    "positions" made on the host, or without (a decoding step's: made here from `seen`);
    first, rest: the slots of the first new token and of the others (ints, or (1,) int32 where
    a trace follows them); seen: the first new token's position (an int32 scalar); head: (the
    head's keys turned to positions 0, 1, ..., the turn to their place) or None, head_slots:
    where place_head writes it; memory: (the strategy's layer state, the queries as the memory
    reads them or None, the turn that makes them of `queries` or None) or None, read: the
    strategy's read_state; links: (own, fresh) masks for `link`, or None.
    """
    b = dict(buffers)
    B, H, L = rows["keys"].shape[:3]
    if "positions" not in rows:
        rows = {
            **rows,
            "importance": mx.zeros((B, H, L)),
            "positions": mx.broadcast_to(seen, (B, H, L)),
        }
    for name, x in rows.items():
        b[name] = put(b[name], x[:, :, :1] if L > 1 else x, first)
        if L > 1:
            b[name] = put(b[name], x[:, :, 1:], rest)
    if head is not None:
        b["keys"] = place_head(b["keys"], turned(*head), *head_slots)
    keys, values = b["keys"][..., :T, :], b["values"][..., :T, :]
    if memory is not None:
        state, memory_queries, turn = memory
        if memory_queries is None:
            memory_queries = queries if turn is None else turned(queries, turn)
        memory = read(state, memory_queries, scale)
    # looked up at each call, so that a probe may wrap it (experiments/slots_degeneration.py)
    out, weights = _attention.attend(
        queries, keys, values, scale, mask, sinks, memory, track or links is not None
    )
    if track:
        b["importance"] = accumulate(b["importance"], weights)
    if links is not None:
        link(b, weights, *links, seen)
    return out, b


@cache
def compiled_step(
    T: int, scale: float, track: bool, head_slots: tuple[int, int], read: Callable | None
) -> Callable:
    """`layer_step` compiled for one configuration (shared by the layers and caches that have it):
    what a steady decoding step runs."""
    return mx.compile(
        partial(layer_step, T=T, scale=scale, track=track, head_slots=head_slots, read=read)
    )


def plain_step(
    T: int, scale: float, track: bool, head_slots: tuple[int, int], read: Callable | None
) -> Callable:
    """`layer_step` as it is, operation by operation: a step whose shapes do not recur."""
    return partial(layer_step, T=T, scale=scale, track=track, head_slots=head_slots, read=read)
