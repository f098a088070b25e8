"""MultiHeadMemoryBank: slots that are written, linked, dreamt over and read, step by step.

The controller's hidden states (B, T, d) are projected once, in parallel, into every
head's keys, values, strengths and gates; only the memory state itself is carried through
the loop over steps. At each step t:

1. write: each write head addresses slots by a learned mix of content and allocation to
   the oldest slot, scaled by its write gate; slot i takes the convex update
   M_i <- (1 - omega_i) M_i + sum_h g_h w_hi v_h / H_w, where omega_i = sum_h g_h w_hi / H_w,
   so contents stay in [-1, 1]. Ages grow by one and shrink in proportion to omega.
2. link: STDP strengthens edges from the slots written at t-1 to those written at t.
3. dream: every ``dream_every`` steps the synthesizer refines the slots.
4. read: each read head addresses slots by the meta-policy, spreads the address through
   the graph and reads the weighted sum of slots.

Reading after writing means the output at t may use token t itself; nothing later.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from . import addressing
from .config import MemNetConfig
from .graph import spread, stdp_update
from .synthesizer import MemorySynthesizer


@dataclass
class MemoryTrace:
    """What the memory did over a sequence, stacked over steps (T) for losses and analysis."""

    reads: mx.array  # (B, T, H_r, D) read vectors
    read_weights: mx.array  # (B, T, H_r, N) final read addresses, after spreading
    write_weights: mx.array  # (B, T, N) omega: how much of each slot was overwritten
    write_gates: mx.array  # (B, T, H_w) write strength of each head
    policy: mx.array  # (B, T, H_r, 3) meta-policy mix of top-k, uniform, random
    adjacency: mx.array  # (B, N, N) graph at the end of the sequence


class MultiHeadMemoryBank(nn.Module):
    """Slot memory with age tracking, H_w write heads and H_r meta-policy read heads."""

    def __init__(self, config: MemNetConfig):
        super().__init__()
        self.config = config
        d, dim = config.d_model, config.slot_dim
        hr, hw = config.read_heads, config.write_heads
        self.read_query = nn.Linear(d, hr * dim)
        self.read_strength = nn.Linear(d, hr)
        self.write_key = nn.Linear(d, hw * dim)
        self.write_value = nn.Linear(d, hw * dim)
        self.write_strength = nn.Linear(d, hw)
        self.write_gate = nn.Linear(d, hw)
        self.allocation_gate = nn.Linear(d, hw)
        self.allocation_sharpness = mx.array(2.0)
        # Start as a ring buffer of recent tokens read by content: write nearly every token
        # (gate ~0.9) mostly into the oldest slot, read mostly top-k. Training then learns
        # what to skip and when to explore (in a two-seed pilot this learned a little faster
        # than neutral gates).
        self.write_gate.bias = mx.full((hw,), 2.0)
        self.allocation_gate.bias = mx.full((hw,), 2.0)
        if config.policy == "meta":
            self.policy_gate = nn.Linear(d, hr * addressing.N_POLICIES)
            self.policy_gate.bias = mx.tile(mx.array([2.0, 0.0, 0.0]), hr)
        if config.dream_every:
            self.synthesizer = MemorySynthesizer(dim)

    def initial_state(self, batch: int) -> tuple[mx.array, mx.array, mx.array, mx.array]:
        """Empty memory, graph and activity; ages count down from slot 0 so allocation starts there."""
        n, dim = self.config.n_slots, self.config.slot_dim
        age = mx.broadcast_to(mx.arange(n - 1, -1, -1, dtype=mx.float32), (batch, n))
        return mx.zeros((batch, n, dim)), age, mx.zeros((batch, n, n)), mx.zeros((batch, n))

    def _policy(self, h: mx.array) -> mx.array:
        batch, steps = h.shape[:2]
        hr = self.config.read_heads
        if self.config.policy == "topk":
            fixed = mx.array([1.0, 0.0, 0.0])
            return mx.broadcast_to(fixed, (batch, steps, hr, addressing.N_POLICIES))
        logits = self.policy_gate(h).reshape(batch, steps, hr, addressing.N_POLICIES)
        return mx.softmax(logits, axis=-1)

    def __call__(self, h: mx.array, key: mx.array) -> MemoryTrace:
        """Run the memory over controller states h (B, T, d); ``key`` seeds the random read policy."""
        cfg = self.config
        batch, steps = h.shape[:2]
        hr, hw, dim = cfg.read_heads, cfg.write_heads, cfg.slot_dim
        # Everything that depends on h alone is computed for all steps at once: the loop
        # below is latency-bound, so each op taken out of it counts T times.
        query = addressing.unit(self.read_query(h).reshape(batch, steps, hr, dim))
        query = query * (1.0 + nn.softplus(self.read_strength(h)))[..., None]
        policy = self._policy(h)
        explore = addressing.exploration(
            policy, addressing.random_one_hot(key, (batch, steps, hr), cfg.n_slots)
        )
        write_key = addressing.unit(self.write_key(h).reshape(batch, steps, hw, dim))
        write_key = write_key * (1.0 + nn.softplus(self.write_strength(h)))[..., None]
        value = mx.tanh(self.write_value(h)).reshape(batch, steps, hw, dim)
        gate = mx.sigmoid(self.write_gate(h))
        alloc_mix = mx.sigmoid(self.allocation_gate(h))
        to_oldest = (gate * alloc_mix / hw)[..., None]
        to_content = (gate * (1 - alloc_mix) / hw)[..., None]
        sharpness = nn.softplus(self.allocation_sharpness)

        memory, age, adjacency, previous = self.initial_state(batch)
        slots = addressing.unit(memory).swapaxes(1, 2)
        reads, read_weights, write_weights = [], [], []
        for t in range(steps):
            content = mx.softmax(write_key[:, t] @ slots, axis=-1)
            oldest = addressing.allocation(age, sharpness)[:, None, :]
            address = to_oldest[:, t] * oldest + to_content[:, t] * content
            omega = address.sum(axis=1)
            kept = 1 - omega
            memory = kept[..., None] * memory + address.swapaxes(1, 2) @ value[:, t]
            age = (age + 1) * kept
            if cfg.alpha:  # with the graph off, A would never be read: skip its upkeep
                adjacency = stdp_update(adjacency, previous, omega, cfg.stdp_rate, cfg.graph_decay)
            previous = omega
            if cfg.dream_every and (t + 1) % cfg.dream_every == 0:
                memory = self.synthesizer(memory)
            slots = addressing.unit(memory).swapaxes(1, 2)

            top = addressing.top_k_softmax(query[:, t] @ slots, cfg.top_k)
            weights = spread(policy[:, t, :, 0:1] * top + explore[:, t], adjacency, cfg.alpha)
            reads.append(weights @ memory)
            read_weights.append(weights)
            write_weights.append(omega)
        return MemoryTrace(
            reads=mx.stack(reads, axis=1),
            read_weights=mx.stack(read_weights, axis=1),
            write_weights=mx.stack(write_weights, axis=1),
            write_gates=gate,
            policy=policy,
            adjacency=adjacency,
        )
