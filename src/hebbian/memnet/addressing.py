"""Addressing: which slots a read or write head touches, as a distribution over slots.

Reads use the meta-policy: a learned gate mixes three read policies,
- top-k: content similarity, softmax over the k best-matching slots only (precise recall);
- uniform: every slot alike (global context);
- random: one slot drawn uniformly at random (exploration).
Writes mix content addressing with allocation to the least recently written slot, so the
model itself decides whether a write refines an existing memory or replaces the oldest one.
"""

from __future__ import annotations

import mlx.core as mx

N_POLICIES = 3  # top-k, uniform, random, in that order


def unit(x: mx.array, eps: float = 1e-6) -> mx.array:
    """x scaled to unit length along the last axis (zero vectors stay zero)."""
    return x / (mx.linalg.norm(x, axis=-1, keepdims=True) + eps)


def top_k_softmax(scores: mx.array, k: int) -> mx.array:
    """Softmax over the k largest scores of the last axis; every other entry gets 0."""
    if k >= scores.shape[-1]:
        return mx.softmax(scores, axis=-1)
    kth = mx.sort(scores, axis=-1)[..., -k : -k + 1]
    return mx.softmax(mx.where(scores >= kth, scores, -mx.inf), axis=-1)


def random_one_hot(key: mx.array, shape: tuple[int, ...], n_slots: int) -> mx.array:
    """One uniformly drawn slot per head and step, one-hot: shape + (n_slots,)."""
    picks = mx.random.randint(0, n_slots, shape, key=key)
    return (picks[..., None] == mx.arange(n_slots)).astype(mx.float32)


def exploration(gate: mx.array, random: mx.array) -> mx.array:
    """The content-free part of the meta-policy address: gate_uniform / N + gate_random * random.

    gate (..., 3) weighs top-k, uniform and random; random (..., N) is one-hot. The full
    address is ``gate[..., 0:1] * top_k + exploration(gate, random)``; this part needs no
    memory, so it is computed for all steps before the loop.
    """
    return gate[..., 1:2] / random.shape[-1] + gate[..., 2:3] * random


def allocation(age: mx.array, sharpness: mx.array) -> mx.array:
    """Least-recently-written allocation: softmax(sharpness * age) over slots, (B, N)."""
    return mx.softmax(sharpness * age, axis=-1)
