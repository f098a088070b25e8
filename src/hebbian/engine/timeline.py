"""The host counters of a model's HebbianCaches: one timeline, advanced once per forward pass.

Every layer's cache holds the same tokens in the same slots, so what counts tokens and places
them is kept once, here, not per layer: how many tokens were seen, the rotation base, how many
were evicted, where the head (sinks and heavy hitters) was last turned to, and the slot layout
(layout.py). make_cache gives all of a model's caches one timeline; a cache made on its own (or
rebuilt by from_state) has its own.

A forward pass is one step: the first layer whose cache is written (update_and_fetch) opens it,
and everything the step does to the counters is worked out then, from the counters before it
(`Step`): where its tokens go, which tokens leave and where the staying ones move, the head's
turn, a rebase. Every layer reads the same step while the counters still hold their values from
before it (the model rotates each layer's queries at `offset`), and the step is committed, once,
when the last layer has settled. A step replayed by a compiled whole step (compiled.py) is opened
and committed at once (`advance`).
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field

from .config import EngineConfig
from .layout import Layout, Plan
from .snapshot import Snapshots


@dataclass
class Step:
    """One forward pass's host values, the same in every layer."""

    L: int  # new tokens
    first: int  # the slot of the first
    rest: int  # the slot of the second (the others follow it)
    T: int  # slots attention reads
    seen: int  # the first new token's sequence position (tokens seen before the step)
    plan: Plan  # what settling asks of the buffers
    after: Layout  # the layout once the step is settled
    head_at: int | None  # where the head's first row is turned to, or None: it stays put
    evicted: int  # tokens that leave for good (handed to the strategy, or dropped)
    rebase: int  # the shift every rotation position moves back by (0: none)
    joined: set[int] = field(default_factory=set)  # layers written so far
    settled: set[int] = field(default_factory=set)  # layers settled so far


class Timeline(Snapshots):
    """The counters of one sequence's caches (module docstring). `batch`: the hand-over batch."""

    REBASE_AT = 4096  # under positions="cache", rebase once offsets reach max(this, 2 * capacity)
    _fixed = ("config", "_caches")

    def __init__(self, config: EngineConfig, batch: int):
        c = self.config = config
        # weak: the caches hold the timeline, and a cycle would keep a dropped engine's buffers
        # alive until the cyclic garbage collector ran
        self._caches: list[weakref.ref] = []
        self.layout = Layout(c.n_sink, c.window - c.keep_important, c.keep_important, batch)
        self.seen = 0
        self.base = 0  # positions="cache": sequence position minus rotation position
        self.evicted = 0
        self.head_at: int | None = None  # the position the head's first row is turned to
        self.step: Step | None = None  # the forward pass under way

    @property
    def caches(self) -> list:
        """The HebbianCaches that share this timeline, in layer order."""
        return [cache for ref in self._caches if (cache := ref()) is not None]

    def attach(self, cache) -> None:
        """Count `cache` (the next layer's) among those that share this timeline."""
        self._caches.append(weakref.ref(cache))

    @property
    def offset(self) -> int:
        """Where the model rotates the next token's query and key (also during a step: the
        counters move when it is committed)."""
        return self.seen - self.base

    # --- a forward pass ------------------------------------------------------------------------------

    def join(self, layer: int, L: int) -> Step:
        """The step a layer's L new tokens belong to: the one under way, or a new one."""
        step = self.step
        if step is not None and layer in step.joined:
            raise RuntimeError(
                "HebbianCache: the step never reached the engine's attention; "
                "run the model inside hebbian.engine.patched(model)"
            )
        if step is None:
            step = self.step = self.plan(L)
        elif step.L != L:
            raise RuntimeError(f"layer {layer} was given {L} tokens in a step of {step.L}")
        step.joined.add(layer)
        return step

    def settled(self, layer: int) -> None:
        """A layer has settled its part of the step; the last one commits it."""
        step = self.step
        step.settled.add(layer)
        if len(step.settled) == len(self._caches):
            self.commit()

    def check_settled(self) -> None:
        """Raise unless the last step reached the engine's attention in every layer."""
        if self.step is not None:
            raise RuntimeError(
                "HebbianCache: the step never reached the engine's attention; "
                "run the model inside hebbian.engine.patched(model)"
            )

    def plan(self, L: int) -> Step:
        """What a step of L tokens does, worked out from the counters now (which it leaves)."""
        c, lay = self.config, self.layout
        first, rest, T = lay.placement(L)
        after = copy.copy(lay)
        plan = after.settle(L, first, T)
        leaving = len(plan.hand_over)
        evicted, head_at, rebase = leaving, self.head_target(), 0
        if leaving and c.keep_important:  # they join the heavy hitters, which keep the K best
            evicted = max(0, lay.heavy + leaving - c.keep_important)
            after.heavy = min(lay.heavy + leaving, c.keep_important)
        if leaving and self.rebase_due(self.seen + L):
            # the oldest recent token moves to right after the head
            rebase = self.seen + L - after.recent - self.base - (c.n_sink + c.keep_important)
        return Step(L, first, rest, T, self.seen, plan, after, head_at, evicted, rebase)

    def commit(self) -> None:
        """The step's changes to the counters, once."""
        s, c = self.step, self.config
        self.step = None
        self.layout, self.seen, self.evicted = s.after, self.seen + s.L, self.evicted + s.evicted
        self.base += s.rebase
        if s.head_at is not None:
            self.head_at = s.head_at
        if s.rebase or (s.plan.hand_over and c.keep_important and c.positions == "cache"):
            self.head_at = None  # the head moved (or changed): turn it afresh

    def advance(self) -> None:
        """A decoding step replayed by a compiled call: its changes to the counters."""
        self.step = self.plan(1)
        self.commit()

    def flush(self) -> list[int]:
        """The slots of the evicted tokens not yet handed over, now handed over (oldest first)."""
        slots = self.layout.flush()
        self.evicted += len(slots)
        return slots

    # --- what the steps ask ----------------------------------------------------------------------------

    def head_target(self) -> int | None:
        """Where the next step turns the head's first row to, or None when it need not move
        (positions="original", no recent tokens yet, no head yet, or no step since the last turn)."""
        lay = self.layout
        has_head = lay.sinks or lay.heavy
        if self.config.positions != "cache" or not lay.recent or not has_head:
            return None
        at = self.seen - lay.recent - self.base - lay.sinks - lay.heavy
        return None if at == self.head_at else at

    def rebase_due(self, seen: int) -> bool:
        """Whether a hand-over with `seen` tokens seen rebases (positions="cache" only)."""
        c = self.config
        return c.positions == "cache" and seen - self.base >= max(self.REBASE_AT, 2 * c.capacity)

    def replayable(self, consolidates: bool) -> bool:
        """Whether the next decoding step is steady and changes nothing but the caches' arrays and
        the counters: it hands no tokens over, or hands them over to be counted only (a strategy
        that consolidates nothing, no heavy hitters), and no rebase is due."""
        lay = self.layout
        if not lay.wrapped or self.step is not None:
            return False
        if lay.pending + 1 < lay.batch:
            return True
        return (
            not consolidates
            and not self.config.keep_important
            and not self.rebase_due(self.seen + 1)
        )
