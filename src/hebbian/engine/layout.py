"""Where a HebbianCache's tokens sit: slot bookkeeping in plain ints, kept once for every layer
(the Timeline's: all layers hold the same tokens in the same slots).

A layer's buffers (token axis) are laid out as

    [ sinks (n_sink) | ring (R + hand_over slots) | heavy hitters (keep_important) | chunk tail ]

with R = window - keep_important. In sequence order from `start`, the ring holds the tokens that
have left the window but not yet been handed to the strategy ("pending"), the R recent ones,
then free slots. A step's first new token takes the next free slot and the others go to the
tail, so attention reads one prefix of the buffers; the pending and free slots inside it are
masked out (one mask per forward pass, shared by every layer: all layers hold the same slots).
Decoding, the oldest recent token turns pending by a count, with no data moved, and pending
tokens are handed over in one batch when the ring runs out of free slots; a chunk hands over
at once and gathers the tokens that stay at the ring's start. Before the ring first fills, its
tokens sit contiguously from its start and nothing is masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    """What a step's end asks of the buffers."""

    sinks: int = 0  # the step's first tokens that became sinks (they already sit in place)
    hand_over: list[int] = field(default_factory=list)  # slots to hand over now, oldest first
    # slots whose tokens go to the ring's start, in order
    moves: list[int] = field(default_factory=list)


@dataclass
class Layout:
    n_sink: int
    recent_max: int  # R
    heavy_max: int  # keep_important
    batch: int  # hand-over batch: ring slots beyond the R recent ones
    sinks: int = 0
    recent: int = 0
    pending: int = 0
    heavy: int = 0
    start: int = 0
    wrapped: bool = False  # the ring has filled once: all of it is inside the prefix

    @property
    def ring(self) -> int:
        return self.recent_max + self.batch

    @property
    def held(self) -> int:
        """Tokens attention sees between steps."""
        return self.sinks + self.recent + self.heavy

    def slot(self, j: int) -> int:
        """The slot of the ring's j-th token in sequence order."""
        return self.n_sink + (self.start + j) % self.ring

    def prefix(self) -> int:
        """Slots in use between steps (the buffers' prefix attention reads, before new tokens)."""
        if self.wrapped:
            return self.n_sink + self.ring + self.heavy
        return self.sinks + self.pending + self.recent

    def placement(self, L: int) -> tuple[int, int, int]:
        """(slot of the first new token, slot of the second, slots attention reads) for L new tokens."""
        first = self.slot(self.pending + self.recent) if self.sinks == self.n_sink else self.sinks
        prefix = self.prefix()
        rest = prefix if first < prefix else prefix + 1
        return first, rest, rest + L - 1

    def skipped(self, L: int) -> list[int]:
        """Slots inside what attention reads that hold no token it may see: pending and free ones."""
        pending = [self.slot(j) for j in range(self.pending)]
        if not self.wrapped:
            return pending
        return pending + [self.slot(j) for j in range(self.pending + self.recent + 1, self.ring)]

    def recent_slots(self) -> list[int]:
        return [self.slot(j) for j in range(self.pending, self.pending + self.recent)]

    def settle(self, L: int, first: int, T: int) -> Plan:
        """Sort a step's L new tokens (at `first` and T - L + 1 ... T - 1) into sinks and recent
        ones, and say which tokens leave and where the staying ones go."""
        sinks = min(self.n_sink - self.sinks, L)
        self.sinks += sinks
        arrived = [first, *range(T - L + 1, T)][sinks:]
        total = self.recent + len(arrived)
        if total <= self.recent_max:
            self.recent = total  # they sit right after the ring's other tokens
            return Plan(sinks)
        if len(arrived) == 1:  # decoding: the oldest recent token turns pending where it is
            self.pending += 1
            return Plan(sinks, self.flush() if self.pending == self.batch else [])
        order = [self.slot(j) for j in range(self.pending + self.recent)] + arrived
        leaving = self.pending + total - self.recent_max
        self.start, self.pending, self.recent, self.wrapped = 0, 0, self.recent_max, True
        return Plan(sinks, order[:leaving], order[leaving:])

    def flush(self) -> list[int]:
        """Hand over every pending token: their slots, oldest first (they become free)."""
        slots = [self.slot(j) for j in range(self.pending)]
        if slots:
            self.start, self.pending, self.wrapped = (
                (self.start + self.pending) % self.ring,
                0,
                True,
            )
        return slots
