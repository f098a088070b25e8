"""episodic: evicted tokens kept exactly, in blocks, and read back when the prompt asks for them.

As InfLLM (Xiao et al. 2024) and EM-LLM (Fountas et al. 2025) do, evicted keys and values are kept
as they were, in order, in blocks of `block` tokens (one block spans every layer). Each new prompt
chunk (a step of more than one token: what the user says, never the model's own reply) chooses
which blocks the following steps read (at the next step's first layer, once the blocks the chunk
itself evicted are complete, so a prompt fed as one chunk still chooses): its last `query_tokens`
queries, kept across chunks, score every block in a few retrieval heads (a block's score in a head
is the largest scaled q.k over the block's keys and those queries); each head's scores become a
softmax over blocks, and the heads' softmaxes are summed into the block's share of the vote. With
`contrast`, blocks are ranked by the log ratio of that share to the mean share earlier chunks gave
them (a block that every chunk votes for, by salience or position, is not what this prompt asks
for); without, by the share. The `blocks_read` best blocks with `neighbours` blocks on each side
are read by every layer, merged into the window's softmax as exact keys (like `memory` and `slots`:
Strategy.read_state), until the next chunk chooses again. Reading one set of blocks for a whole
reply keeps what the question found while the reply is written. With `gate` (the default), the
window competes: its recent tokens, cut into stretches of `block` and scored by the same queries
and heads (their own last `query_tokens` tokens left out, since a question matches itself), join
each head's softmax, and where a stretch of the window wins the summed vote the chunk reads
nothing (what it asks for is still in the window, and old blocks read as recent would only
distract).

Positions: keys are stored without their rotation; the queries that read them are turned to sit
`recall_at` positions after position 0 (attention's memory read). recall_positions="fixed" reads
every block at that one distance (InfLLM); "true" turns each read key to its position relative
to the newest evicted token, so read keys keep their order and distances, as of when they were
chosen.

Retention is bounded by bytes and Hebbian: a block's strength starts as its tokens' mean attention
received while in the window (the engine's importance), fades by `decay` per token evicted after
it, and grows by the share of the retrieval heads' vote it wins each time it is chosen (use
strengthens, disuse fades, as InfLLM's LRU-S). Whenever the store's bytes exceed `budget` (a
fraction of what a full float32 cache of the model's trained context holds), the weakest block that
can lose bits loses them (exact -> 8 -> 4 bits, mx.quantize with float16 scales; or, with
`min_bits` 3 or 2, exact -> 8 -> 3 -> 2, below 4 in KIVI's layout: keys grouped per channel, and
keys stop at 3 bits while values go on to 2); once all are at `min_bits`, the weakest leaves. With
`index_bits`, a block that goes below that many bits first keeps its retrieval heads' keys at
index_bits, and is found by them instead of by its own coarser keys (it is still read at its own
bits; an engine with other retrieval heads finds it by its own keys). The budget bounds the store;
the read set, a fixed few blocks per layer, is a working buffer like the window.

Which heads retrieve is a property of the model: `retrieval_heads` names them ("layer:kv_head,
..."); "auto" takes the model's calibrated heads from RETRIEVAL_HEADS (experiments/retrieval_heads.py
measures them), or else every KV head of the layers from half to four fifths of the depth; "all"
takes every head (for calibration: `scores` then holds every head's block scores). The engine
runs one sequence (batch 1) and no heavy hitters in this mode, so a block's tokens are the same in every layer and head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..evicted import Evicted
from ..fastexp import exp
from ..rope import Rotary
from .base import POSITIVE, Knob, Strategy, at_least, one_of, register_strategy

# quantization group: along the head dimension, or along a block's tokens; its scale and bias
# are float16 whatever the model's dtype (float32 ones cost 2 bits a value, as much as 2-bit codes)
GROUP = 32
# Below LOW_BITS a block takes KIVI's layout (Liu et al. 2024): keys quantized per channel (each
# channel's group spans the block's tokens; keys' outliers lie in a few channels, which a per-token
# group at 2 bits crushes), values per token
LOW_BITS = 4
# the bits a block's values step down through, by min_bits: below LOW_BITS a block skips 4 bits,
# whose per-token key groups would leave their error in the per-channel levels that follow
LEVELS = {8: (16, 8), 4: (16, 8, 4), 3: (16, 8, 3), 2: (16, 8, 3, 2)}
# the bits a stored block's keys or values may have
STORED_BITS = {bits for levels in LEVELS.values() for bits in levels}
# keys stop here when values go lower: read blocks are used less with every bit lost, more so for
# a bit of the keys (reports/tuning/episodic-bits.md: 3-bit keys with 2-bit values lose half what
# 2-bit keys with 3-bit values lose, at the same bytes)
KEY_FLOOR = 3
INDEX_BITS = (0, 8, 16)  # what index keys may be kept at (0: none)
NEG = -1e30  # the bias of an empty read slot
# The default read distance: on tuning items the default model used read blocks more the nearer
# they sat (a needle item's fact read at 1024: answer log-prob -4.6, at 128: -2.6, at 32: -1.3; a
# fact from a previous chat turn, read at 128, was not answered, at 32 it was).
EPISODIC_RECALL = 32

# Retrieval heads (layer, KV head) found by measurement, keyed by (model_type, layers, hidden size).
RETRIEVAL_HEADS: dict[tuple[str, int, int], tuple[tuple[int, int], ...]] = {
    # SmolLM2-135M-Instruct: ../shared/notes/retrieval.md, picked on 20 items against a
    # mismatched-question control, hit@1 0.82-0.96 on 20 others (0.13-0.25 mismatched).
    ("llama", 30, 576): ((15, 2), (18, 2), (20, 1), (21, 0), (22, 2), (23, 2)),
    # Qwen2.5-Coder-0.5B-Instruct: reports/retrieval-heads-qwen2.5-coder-0.5b.md, picked on 30
    # items, hit@1 0.53-0.77 on 30 others (0.10-0.30 mismatched).
    ("qwen2", 24, 896): ((9, 1), (11, 0), (13, 0), (13, 1), (15, 1), (16, 1)),
}


def key_bits(bits: int) -> int:
    """The bits of a block's keys when its values have `bits`."""
    return max(bits, KEY_FLOOR)


def parse_heads(spec: str) -> tuple[tuple[int, int], ...]:
    """ "15:2,18:2" -> ((15, 2), (18, 2)); ValueError names what is wrong."""
    heads = []
    for part in spec.split(","):
        layer, _, head = part.strip().partition(":")
        if not (layer.isdigit() and head.isdigit()):
            raise ValueError(f"retrieval_heads must be 'auto' or 'layer:kv_head,...', got {spec!r}")
        heads.append((int(layer), int(head)))
    return tuple(heads)


def retrieval_heads(model: nn.Module, spec: str, layers: list[int]) -> dict[int, list[int]]:
    """layer -> the KV heads that score blocks there (see the module docstring)."""
    args = model.args
    if spec == "all":
        return {i: list(range(model.layers[i].self_attn.n_kv_heads)) for i in layers}
    if spec == "auto":
        key = (getattr(args, "model_type", ""), len(model.layers), args.hidden_size)
        n = len(model.layers)
        kv = model.layers[layers[0]].self_attn.n_kv_heads
        pairs = RETRIEVAL_HEADS.get(key) or tuple(
            (i, h) for i in layers if n // 2 <= i < max(n // 2 + 1, 4 * n // 5) for h in range(kv)
        )
    else:
        pairs = parse_heads(spec)
    chosen: dict[int, list[int]] = {}
    for layer, head in pairs:
        if layer not in layers or head >= model.layers[layer].self_attn.n_kv_heads:
            raise ValueError(
                f"retrieval head {layer}:{head} is not a KV head of a full-attention layer"
            )
        chosen.setdefault(layer, []).append(head)
    if not chosen:
        raise ValueError("no retrieval heads: name some with retrieval_heads='layer:kv_head,...'")
    return chosen


def pack(x: mx.array, bits: int, keys: bool = False):
    """x (h, block, D) stored at `bits` (16: as it is; fewer: mx.quantize's (w, scales, biases),
    float16 scales, below LOW_BITS in KIVI's layout)."""
    if bits == 16:
        return (x,)
    if bits < LOW_BITS and keys:
        x = x.swapaxes(-1, -2)
    return tuple(mx.quantize(x.astype(mx.float16), group_size=GROUP, bits=bits))


def unpack(stored: tuple, bits: int, dtype, keys: bool = False) -> mx.array:
    if bits == 16:
        return stored[0]
    x = mx.dequantize(*stored, group_size=GROUP, bits=bits).astype(dtype)
    return x.swapaxes(-1, -2) if keys and bits < LOW_BITS else x


@dataclass(eq=False)  # blocks are compared by identity
class Block:
    """`block` consecutive evicted tokens in every layer: data[layer] = (keys, values), each as
    `pack` stores it ((n_kv_heads, block, D) before packing)."""

    positions: np.ndarray  # (block,) sequence positions
    strength: float  # as of `clock` (tokens evicted so far when it was last set)
    clock: int
    bits: int = 16  # its values' bits: the level it has stepped down to
    key_bits: int = 16  # its keys' bits: key_bits(bits)
    data: dict[int, tuple[tuple, tuple]] = field(default_factory=dict)
    shares: float = 0.0  # its vote shares over the uniform share, summed, and how many chunks voted
    votes: int = 0
    # retrieval layer -> (its retrieval heads, their keys (h, block, D) packed at index_bits), kept
    # to find the block by once its own keys have fewer bits (empty until then)
    index_bits: int = 0
    index: dict[int, tuple[tuple[int, ...], tuple]] = field(default_factory=dict)

    @property
    def arrays(self) -> list[mx.array]:
        """Every array it stores: its keys and values in every layer, and its index keys."""
        data = [x for k, v in self.data.values() for x in (*k, *v)]
        return data + [x for _, k in self.index.values() for x in k]

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for x in self.arrays)


@register_strategy("episodic")
class Episodic(Strategy):
    summary = "exact blocks, read back when a prompt asks for them"
    default_strength = 1.0
    knobs = {
        "block": Knob(32, "evicted tokens per block", *at_least(1)),
        "blocks_read": Knob(
            2,
            "blocks a prompt chunk chooses to read (the best by the retrieval heads' vote), each "
            "with `neighbours` blocks on either side",
            *at_least(1),
        ),
        "neighbours": Knob(1, "blocks read on either side of a chosen one", *at_least(0)),
        "query_tokens": Knob(
            32, "a prompt's last this many queries score the blocks", *at_least(1)
        ),
        "contrast": Knob(
            True,
            "rank blocks by their share of the vote over the share earlier chunks gave them "
            "(discounting blocks that win every vote), not by the share alone",
        ),
        "min_bits": Knob(
            4,
            "the fewest bits stored blocks step down to (16, 8, 4; or 16, 8, 3, 2) before the "
            "weakest leaves (below 4, keys are quantized per channel, as KIVI does, and stop at 3)",
            lambda x: x in LEVELS,
            "be 2, 3, 4 or 8",
        ),
        "index_bits": Knob(
            0,
            "bits the retrieval heads' keys keep to find a block by once the block has fewer "
            "(0: a block is found by its own keys)",
            lambda x: x in INDEX_BITS,
            "be 0, 8 or 16",
        ),
        "budget": Knob(
            0.1,
            "the most bytes the store holds, as a fraction of a full float32 cache of the "
            "model's trained context (inf: no bound)",
            POSITIVE[0],
            "be positive (inf: no bound)",
        ),
        "gate": Knob(
            True,
            "read only when a stored block matches the prompt's queries better than every "
            "block-sized stretch of the window (else read nothing)",
        ),
        "retrieval_heads": Knob(
            "auto", '"auto", "all" or "layer:kv_head,..." (the heads that score blocks)'
        ),
        "recall_positions": Knob(
            "fixed",
            '"fixed" reads every block at recall_distance; "true" keeps read keys at their '
            "distances from the newest evicted token",
            *one_of("fixed", "true"),
        ),
    }
    reads = True
    _fixed = (
        *Strategy._fixed,
        *("heads", "read_slots", "rotary", "dtype", "first", "budget", "levels"),
    )

    @classmethod
    def check(cls, config):
        if config.keep_important:
            return "mode 'episodic' keeps no heavy hitters: set keep_important=0"
        if config.min_bits < LOW_BITS and config.block % GROUP:
            return (
                f"min_bits below {LOW_BITS} quantizes keys along a block's tokens: "
                f"block must be a multiple of {GROUP}"
            )
        return None

    @classmethod
    def recall_at(cls, config):
        """Just beyond a window of EPISODIC_RECALL tokens, if the window is longer."""
        return min(config.capacity, EPISODIC_RECALL)

    def __init__(self, config, model, layers):
        self.heads = retrieval_heads(model, config.retrieval_heads, layers)
        self.read_slots = config.blocks_read * (1 + 2 * config.neighbours) * config.block
        self.rotary = {}
        for i in layers:
            rope = getattr(model.layers[i].self_attn, "rope", None)
            self.rotary[i] = (
                Rotary(rope) if rope is not None and config.recall_positions == "true" else None
            )
        self.dtype = key_dtype(model, layers[0])
        self.first = min(layers)  # a step's first layer, where a pending choice is made
        super().__init__(config, model, layers)
        self.budget = config.budget * full_cache_bytes(model, self.shapes)
        # the bits a block steps down through; quantized where GROUP divides the head dimension
        dims = {d for s in self.shapes.values() for d in (s.head_dim, s.value_dim)}
        if all(d % GROUP == 0 for d in dims):
            self.levels = LEVELS[config.min_bits]
        elif config.min_bits < LOW_BITS:
            raise ValueError(
                f"min_bits {config.min_bits} needs head dimensions that are multiples of {GROUP}"
            )
        else:
            self.levels = (16,)

    # --- state ---------------------------------------------------------------------------------

    def initial(self, layer):
        s, R = self.shapes[layer], self.read_slots
        return {
            "keys": mx.zeros((s.n_kv_heads, R, s.head_dim), self.dtype),
            "values": mx.zeros((s.n_kv_heads, R, s.value_dim), self.dtype),
            "bias": mx.full((R,), NEG),
            "mass": mx.zeros((s.n_kv_heads,)),
        }

    def update(self, layer, state, batch, weights):
        raise NotImplementedError("episodic stores blocks in consolidate; it has no state update")

    def reset(self) -> None:
        super().reset()
        self.blocks: list[Block] = []
        self.clock = 0  # tokens evicted (counted on the first layer)
        self.chosen = 0  # selections made
        self.gated = 0  # selections that read nothing because the window matched best
        self.end_conversation()

    def end_conversation(self) -> None:
        """The blocks stay; what the conversation chose, asked and left half a block of goes."""
        # a block being filled
        self.pending: dict[int, list[Evicted]] = {i: [] for i in self.shapes}
        # retrieval layer -> its heads' last query_tokens queries
        self.queries: dict[int, mx.array] = {}
        self.scales: dict[int, float] = {}  # retrieval layer -> its attention scale
        self.windows: dict = {}  # retrieval layer -> its cache (window_keys), for `gate`
        self.due = False  # kept queries that have not chosen yet
        # selected: block indices read, in order; built: layer -> the selection its read set holds
        self._read([])
        self.anchor = 0  # the newest evicted position when they were chosen ("true" positions)
        self.pinned: tuple[int, int] | None = None  # positions always read (an oracle for studies)
        # retrieval layer -> its heads' last block scores (h, blocks)
        self.scores: dict[int, mx.array] = {}

    # --- storing ---------------------------------------------------------------------------------

    def consolidate(self, layer: int, batch: Evicted) -> None:
        if batch.keys.shape[0] != 1:
            raise ValueError("mode 'episodic' runs one sequence at a time (batch 1)")
        first = layer == min(self.shapes)
        if first:
            self.consolidated += batch.positions.shape[-1]
            self.clock += batch.positions.shape[-1]
        pending = self.pending[layer]
        pending.append(batch)
        held = sum(b.positions.shape[-1] for b in pending)
        n = self.config.block
        if held < n:
            return
        keys = mx.concatenate([b.keys[0] for b in pending], axis=1)
        values = mx.concatenate([b.values[0] for b in pending], axis=1)
        importance = mx.concatenate([b.importance[0] for b in pending], axis=1)
        positions = mx.concatenate([b.positions[0, 0] for b in pending])
        whole = held // n * n
        rest = Evicted(
            keys[None, :, whole:],
            values[None, :, whole:],
            importance[None, :, whole:],
            positions[None, None, whole:],
        )
        self.pending[layer] = [rest] if held > whole else []
        shape, open_blocks = self.shapes[layer], self._open()
        count = sum(1 for b in open_blocks if layer in b.data)
        for a in range(0, whole, n):
            if count == len(open_blocks):  # the first layer to get here makes the block
                mean_importance = (importance[:, a : a + n].mean() / shape.n_rep).item()
                open_blocks.append(
                    Block(np.array(positions[a : a + n]), mean_importance, self.clock)
                )
                self.blocks.append(open_blocks[-1])
            block = open_blocks[count]
            block.data[layer] = (
                pack(keys[:, a : a + n].astype(self.dtype), 16),
                pack(values[:, a : a + n].astype(self.dtype), 16),
            )
            count += 1
        if layer == max(self.shapes):
            self._fit()

    def complete(self) -> list[Block]:
        """The blocks every layer has filled (all but the newest few, while a hand-over runs)."""
        return [b for b in self.blocks if len(b.data) == len(self.shapes)]

    def block_keys(self, block: Block, layer: int) -> mx.array:
        """(n_kv_heads, block, D) a block's keys in `layer`, dequantized."""
        return unpack(block.data[layer][0], block.key_bits, self.dtype, keys=True)

    def finding_keys(self, block: Block, layer: int) -> mx.array:
        """(h, block, D) the keys a block is found by in a retrieval layer's heads, in the order of
        self.heads[layer]: its index where it was made for these heads, else its own keys."""
        heads = tuple(self.heads[layer])
        made_for, stored = block.index.get(layer, ((), ()))
        if made_for == heads:
            return unpack(stored, block.index_bits, self.dtype, keys=True)
        return self.block_keys(block, layer)[mx.array(heads)]

    def _open(self) -> list[Block]:
        """The blocks still being filled layer by layer, oldest first (at their creation, blocks
        are filled by every layer before the next hand-over, so these are the newest)."""
        return [b for b in self.blocks if len(b.data) < len(self.shapes)]

    def held(self, block: Block) -> float:
        """A block's strength now (faded since it was last set)."""
        return block.strength * self.config.decay ** (self.clock - block.clock)

    def _fit(self) -> None:
        """Until the store fits the budget: the weakest block that can lose bits loses them; once
        every block has the fewest, the weakest leaves."""
        while self.store_bytes > self.budget:
            done = self.complete()
            if not done:
                return
            lossy = [b for b in done if b.bits > self.levels[-1]]
            weakest = min(lossy or done, key=self.held)
            if lossy:
                self._requantize(weakest, max(b for b in self.levels if b < weakest.bits))
                continue
            gone = next(j for j, b in enumerate(self.blocks) if b is weakest)
            self.blocks.pop(gone)
            self._read([j - (j > gone) for j in self.selected if j != gone])

    def _requantize(self, block: Block, bits: int) -> None:
        """Store the block's values at `bits` and its keys at key_bits(bits)."""
        keys_to = key_bits(bits)
        if keys_to < self.config.index_bits <= block.key_bits and not block.index:
            block.index_bits = self.config.index_bits
            block.index = {
                i: (tuple(heads), pack(self.finding_keys(block, i), block.index_bits, keys=True))
                for i, heads in self.heads.items()
            }
        block.data = {
            i: (
                pack(unpack(k, block.key_bits, self.dtype, keys=True), keys_to, keys=True),
                pack(unpack(v, block.bits, self.dtype), bits),
            )
            for i, (k, v) in block.data.items()
        }
        block.bits, block.key_bits = bits, keys_to
        mx.eval(block.arrays)
        self.built.clear()

    @property
    def store_bytes(self) -> int:
        """What the budget bounds: the blocks, the block being filled and the kept queries (the
        read set, a fixed few blocks, is a working buffer like the window)."""
        pending = sum(
            x.nbytes for p in self.pending.values() for b in p for x in (b.keys, b.values)
        )
        queries = sum(q.nbytes for q in self.queries.values())
        return sum(b.nbytes for b in self.blocks) + pending + queries

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.store_bytes

    # --- choosing what to read ---------------------------------------------------------------------

    def observe(self, layer: int, queries: mx.array, scale: float, window=None) -> None:
        if layer in self.heads:
            self._keep(layer, queries, scale)
            if window is not None:
                self.windows[layer] = window

    def _keep(self, layer: int, queries: mx.array, scale: float) -> None:
        """Keep this retrieval layer's last query_tokens queries; they choose at the next step,
        once the blocks this chunk evicted are complete in every layer."""
        n_kv, heads = self.shapes[layer].n_kv_heads, self.heads[layer]
        B, n_heads, L, D = queries.shape
        recent = queries[0].reshape(n_kv, n_heads // n_kv, L, D)[mx.array(heads)]  # (h, rep, L, D)
        kept = self.queries.get(layer)
        recent = recent if kept is None else mx.concatenate([kept, recent], axis=2)
        self.queries[layer], self.scales[layer], self.due = (
            recent[:, :, -self.config.query_tokens :],
            scale,
            True,
        )

    def choose(self) -> None:
        """Make the choice that the last prompt chunk's queries asked for, if one is pending (a
        step's first layer does it: a chunk's own evictions are complete by then)."""
        if not self.due:
            return
        self.due = False
        complete, votes, rivals = self.complete(), None, None
        for layer, queries in self.queries.items() if complete else ():
            h, D = len(self.heads[layer]), queries.shape[-1]
            keys = mx.stack(
                [self.finding_keys(b, layer) for b in complete], axis=1
            )  # (h, N, block, D)
            q = queries.reshape(h, -1, D).astype(mx.float32) * self.scales[layer]  # (h, rep Q, D)
            self.scores[layer] = best_scores(q, keys)
            share = mx.softmax(self.scores[layer], axis=-1).sum(axis=0)
            votes = share if votes is None else votes + share
            window = self._window_scores(layer, q) if self.config.gate else None
            if window is not None:
                both = mx.concatenate([self.scores[layer], window], axis=-1)
                joint = mx.softmax(both, axis=-1).sum(axis=0)
                rivals = joint if rivals is None else rivals + joint
        gated = rivals is not None and int(mx.argmax(rivals).item()) >= len(complete)
        self.gated += gated
        self._choose(votes, gated)

    def _window_scores(self, layer: int, q: mx.array) -> mx.array | None:
        """(h, stretches) the best score of queries `q` (h, n, D) over each `block`-long stretch
        of the layer's window, its last query_tokens tokens left out (None: nothing left)."""
        if layer not in self.windows:
            return None
        _, keys = self.windows[layer].window_keys()
        n = keys.shape[2] - self.config.query_tokens
        if n < 1:
            return None
        keys, b = keys[0, mx.array(self.heads[layer]), :n], self.config.block  # (h, n, D)
        # the last stretch filled out with copies of its last key, which leave its best score be
        keys = mx.pad(keys, [(0, 0), (0, -n % b), (0, 0)], mode="edge")
        return best_scores(q, keys.reshape(keys.shape[0], -1, b, keys.shape[-1]))

    def _choose(self, votes: mx.array | None, gated: bool = False) -> None:
        c, n = self.config, len(self.blocks)
        chosen: list[int] = []
        if self.pinned is not None:
            lo, hi = self.pinned
            chosen = [
                j
                for j, b in enumerate(self.blocks)
                if b.positions[0] <= hi and b.positions[-1] >= lo
            ]
        complete = self.complete()
        if votes is not None:
            share = np.array(votes) / sum(len(h) for h in self.heads.values())
            # against uniform: a share of a vote among few blocks is not worth more than one
            # among many (so an old block, voted on when it was alone, is not discounted)
            relative = share * len(share)
            score = share
            if c.contrast:  # against what earlier chunks gave each block (uniform before any)
                usual = np.array([b.shares / b.votes if b.votes else 1.0 for b in complete])
                score = np.log(relative + 1e-9) - np.log(usual + 1e-9)
            for b, x in zip(complete, relative):
                b.shares, b.votes = b.shares + float(x), b.votes + 1
            for j in np.argsort(-score, kind="stable")[: 0 if gated else c.blocks_read]:
                block = self.blocks[int(j)]
                block.strength, block.clock = self.held(block) + float(share[j]), self.clock
                chosen.append(int(j))
        # in order of priority (pinned, then by vote, each with its neighbours), then as many as fit
        wanted = dict.fromkeys(
            j + d
            for j in chosen
            for d in range(-c.neighbours, c.neighbours + 1)
            if 0 <= j + d < n and len(self.blocks[j + d].data) == len(self.shapes)
        )
        self._read(sorted(list(wanted)[: self.read_slots // c.block]))
        self.anchor = int(self.blocks[-1].positions[-1]) if self.blocks else 0
        self.chosen += 1

    def _read(self, selected: list[int]) -> None:
        """Make `selected` the blocks every layer reads. A layer is active (read, and traced
        reading by a compiled step) exactly while there is something to read."""
        self.selected: list[int] = selected
        self.built: dict[int, tuple] = {}
        self.active = set(self.shapes) if selected else set()

    def selected_positions(self) -> list[tuple[int, int]]:
        """(first, last) sequence position of each block the next steps read."""
        self.choose()
        return [
            (int(self.blocks[j].positions[0]), int(self.blocks[j].positions[-1]))
            for j in self.selected
        ]

    # --- reading -------------------------------------------------------------------------------------

    def memory_state(self, layer: int) -> dict[str, mx.array] | None:
        if layer == self.first:
            self.choose()
        if layer not in self.active:
            return None
        self._build(layer)
        return self.layers[layer]

    def step_arrays(self, layer: int) -> dict[str, mx.array]:
        if layer == self.first:
            self.choose()
        if self.selected:
            self._build(layer)
        return super().step_arrays(layer)

    def _build(self, layer: int) -> None:
        """The layer's read set: the selected blocks' keys and values, padded to read_slots."""
        key = tuple(self.selected), self.anchor
        if self.built.get(layer) == key:
            return
        blocks = [self.blocks[j] for j in self.selected]
        keys = mx.concatenate([self.block_keys(b, layer) for b in blocks], axis=1)
        values = mx.concatenate(
            [unpack(b.data[layer][1], b.bits, self.dtype) for b in blocks], axis=1
        )
        if self.rotary[layer] is not None:
            positions = np.concatenate([b.positions for b in blocks])
            turn = mx.array(
                np.broadcast_to(self.anchor - positions, keys.shape[:2]).copy(), dtype=mx.int32
            )
            keys = self.rotary[layer].unrotate_at(keys, turn)
        n, R = keys.shape[1], self.read_slots
        state = dict(self.layers[layer])
        state["keys"] = mx.slice_update(state["keys"], keys, mx.array([0]), axes=(1,))
        state["values"] = mx.slice_update(state["values"], values, mx.array([0]), axes=(1,))
        state["bias"] = mx.array(np.where(np.arange(R) < n, 0.0, NEG).astype(np.float32))
        self.layers[layer] = state
        self.built[layer] = key

    @staticmethod
    def read_state(state: dict[str, mx.array], queries: mx.array, scale: float):
        B, n_heads, L, D = queries.shape
        q = queries.reshape(B, state["keys"].shape[0], -1, D) * scale
        scores = (q @ state["keys"].swapaxes(1, 2)[None]).astype(mx.float32) + state["bias"]
        log_mass = mx.logsumexp(scores, axis=-1, keepdims=True)
        out = exp(scores - log_mass).astype(state["values"].dtype) @ state["values"][None]
        return out.reshape(B, n_heads, L, -1), log_mass.reshape(B, n_heads, L)

    # --- reporting and persistence -----------------------------------------------------------------

    def diagnostics(self) -> dict[str, float]:
        done = self.complete()
        return {
            "mass": 0.0,
            "blocks": len(done),
            "store_bytes": self.store_bytes,
            "budget_bytes": self.budget,
            "bits": float(np.mean([(b.key_bits + b.bits) / 2 for b in done])) if done else 0.0,
            "blocks_read": len(self.selected),
            "selections": self.chosen,
            "gated": self.gated,
            "strength": float(np.mean([self.held(b) for b in done])) if done else 0.0,
        }

    def state_dict(self) -> dict[str, mx.array]:
        done = self.complete()
        arrays = {
            "blocks.positions": mx.array(
                np.array([b.positions for b in done], dtype=np.int32).reshape(
                    len(done), self.config.block
                )
            ),
            "blocks.strength": mx.array([self.held(b) for b in done], dtype=mx.float32),
            "blocks.bits": mx.array([b.bits for b in done], dtype=mx.int32),
            "blocks.key_bits": mx.array([b.key_bits for b in done], dtype=mx.int32),
            "blocks.shares": mx.array([b.shares for b in done], dtype=mx.float32),
            "blocks.votes": mx.array([b.votes for b in done], dtype=mx.int32),
            "blocks.index_bits": mx.array([b.index_bits for b in done], dtype=mx.int32),
        }
        for j, b in enumerate(done):
            for i, (k, v) in b.data.items():
                for name, stored in (("k", k), ("v", v)):
                    for part, x in enumerate(stored):
                        arrays[f"block{j}.layer{i}.{name}{part}"] = x
            for i, (heads, stored) in b.index.items():
                arrays[f"block{j}.index{i}.heads"] = mx.array(heads, dtype=mx.int32)
                for part, x in enumerate(stored):
                    arrays[f"block{j}.index{i}.k{part}"] = x
        return arrays

    def load_state_dict(self, arrays: dict[str, mx.array], consolidated: int) -> None:
        """Replace the store with `arrays` (as from state_dict), checked first (ValueError)."""
        try:
            positions = np.array(arrays["blocks.positions"])
            strength, bits = np.array(arrays["blocks.strength"]), np.array(arrays["blocks.bits"])
            shares, votes = np.array(arrays["blocks.shares"]), np.array(arrays["blocks.votes"])
        except KeyError as e:
            raise ValueError(f"missing array {e.args[0]}") from e
        n, block = positions.shape if positions.ndim == 2 else (-1, -1)
        # stores saved before index keys existed have none; before keys had their own bits, keys
        # had the values' bits
        index_bits = np.array(arrays.get("blocks.index_bits", np.zeros(max(n, 0), np.int32)))
        keys_bits = np.array(arrays.get("blocks.key_bits", bits))
        if block != self.config.block or any(
            x.shape != (n,) for x in (strength, bits, keys_bits, shares, votes, index_bits)
        ):
            raise ValueError(
                f"blocks.positions is {positions.shape}, expected (blocks, {self.config.block}), "
                "and every other blocks.* array (blocks,)"
            )
        if not (
            np.isfinite(strength).all()
            and np.isfinite(shares).all()
            and (votes >= 0).all()
            and set(bits.tolist()) | set(keys_bits.tolist()) <= STORED_BITS
            and set(index_bits.tolist()) <= set(INDEX_BITS)
        ):
            raise ValueError(
                "blocks.strength, .bits, .key_bits, .shares, .votes or .index_bits holds values a "
                "store cannot have"
            )
        used = {
            f"blocks.{name}"
            for name in (
                "positions",
                "strength",
                "bits",
                "key_bits",
                "shares",
                "votes",
                "index_bits",
            )
        }

        def take(prefix: str, stored_bits: int, shape: tuple, keys: bool, what: str) -> tuple:
            """The packed arrays named prefix0.. (checked to unpack to `shape`, finite)."""
            names = [f"{prefix}{p}" for p in range(1 if stored_bits == 16 else 3)]
            missing = [m for m in names if m not in arrays]
            if missing:
                raise ValueError(f"missing array {missing[0]}")
            stored = tuple(arrays[m] for m in names)
            x = unpack(stored, stored_bits, self.dtype, keys)
            if x.shape != shape or not mx.isfinite(x).all().item():
                raise ValueError(f"{names[0]} does not hold {what}")
            used.update(names)
            return stored

        blocks = []
        for j in range(n):
            block = Block(
                positions[j],
                float(strength[j]),
                0,
                int(bits[j]),
                int(keys_bits[j]),
                shares=float(shares[j]),
                votes=int(votes[j]),
                index_bits=int(index_bits[j]),
            )
            for i, shape in self.shapes.items():
                block.data[i] = tuple(
                    take(
                        f"block{j}.layer{i}.{name}",
                        stored_bits,
                        (shape.n_kv_heads, self.config.block, dim),
                        keys=name == "k",
                        what=f"a block of layer {i}",
                    )
                    for name, dim, stored_bits in (
                        ("k", shape.head_dim, block.key_bits),
                        ("v", shape.value_dim, block.bits),
                    )
                )
            for i in self.shapes if block.index_bits else ():
                name = f"block{j}.index{i}.heads"
                if name not in arrays:
                    continue
                heads = tuple(int(h) for h in np.array(arrays[name]).reshape(-1))
                if not heads or not all(0 <= h < self.shapes[i].n_kv_heads for h in heads):
                    raise ValueError(f"{name} does not name KV heads of layer {i}")
                used.add(name)
                block.index[i] = (
                    heads,
                    take(
                        f"block{j}.index{i}.k",
                        block.index_bits,
                        (len(heads), self.config.block, self.shapes[i].head_dim),
                        keys=True,
                        what=f"the keys of layer {i}'s retrieval heads",
                    ),
                )
            blocks.append(block)
        extra = sorted(set(arrays) - used)
        if extra:
            raise ValueError(f"unexpected array {extra[0]}")
        self.reset()
        self.blocks, self.consolidated = blocks, consolidated


def best_scores(q: mx.array, keys: mx.array) -> mx.array:
    """(h, N) the largest scaled score of queries `q` (h, n, D) over each block of `keys`
    (h, N, block, D): a block's score in a head."""
    return (mx.expand_dims(q, 1) @ keys.astype(mx.float32).swapaxes(-1, -2)).max(axis=(-1, -2))


def full_cache_bytes(model: nn.Module, shapes: dict) -> float:
    """Bytes a float32 KV cache of the model's trained context takes in the layers of `shapes`
    (inf if the model does not say its context)."""
    context = getattr(model.args, "max_position_embeddings", None)
    if not context:
        return math.inf
    return float(
        sum(s.n_kv_heads * (s.head_dim + s.value_dim) * 4 * context for s in shapes.values())
    )


def key_dtype(model: nn.Module, layer: int):
    """The dtype of the keys a layer's projection makes (the model's activations)."""
    attn = model.layers[layer].self_attn
    if not hasattr(attn, "k_proj"):
        return mx.float32
    return attn.k_proj(mx.zeros((1, 1, model.args.hidden_size))).dtype
