"""slots: a bounded set of consolidated key/value slots per layer and KV head.

An evicted token takes a free slot while there is one (in order, within a batch) and otherwise
merges into the slot whose key is most similar (cosine, position-free keys): the slot's key and
value become the weighted running mean of what merged into it, its mass the weight it holds.
Mass fades by `decay` per evicted token, so unused slots weaken; one below a hundredth of a
token's weight counts as free again. Slots join the window's softmax as keys with a log(mass)
bias: a slot holding n similar tokens weighs like n copies of their mean. A batch is merged at
once: one-hot assignments (tokens x slots) and a matrix product per KV head.
"""

from __future__ import annotations

import mlx.core as mx

from ..fastexp import exp
from .base import Knob, Strategy, at_least, heads_first, register_strategy

FREE_BELOW = 0.01  # of a token's weight at strength eta


@register_strategy("slots")
class Slots(Strategy):
    summary = "merged key/value slots, read by attention"
    default_strength = 0.1
    knobs = {"slots": Knob(64, "consolidated key/value slots per layer and KV head", *at_least(1))}
    reads = True

    def initial(self, layer):
        s, n = self.shapes[layer], self.config.slots
        return {
            "keys": mx.zeros((s.n_kv_heads, n, s.head_dim)),
            "values": mx.zeros((s.n_kv_heads, n, s.value_dim)),
            "weight": mx.zeros((s.n_kv_heads, n)),
            "mass": mx.zeros((s.n_kv_heads,)),
        }

    def update(self, layer, state, batch, weights):
        E, n = batch.importance.shape[-1], self.config.slots
        k, v = (
            heads_first(batch.keys).astype(mx.float32),
            heads_first(batch.values).astype(mx.float32),
        )
        N = k.shape[1]
        held = state["weight"] * self.config.decay**E
        free = held < FREE_BELOW * self.config.eta
        held = mx.where(free, 0.0, held)
        token = mx.arange(N)[None, :, None]
        # the i-th token of the batch takes the i-th free slot, while there are free slots
        rank = mx.cumsum(free.astype(mx.int32), axis=-1) - 1
        fresh = free[:, None, :] & (rank[:, None, :] == token)  # (H, N, slots)
        taken = fresh.any(axis=1)
        keys = mx.where(
            taken[..., None], fresh.astype(mx.float32).swapaxes(1, 2) @ k, state["keys"]
        )
        unit = lambda x: x / mx.maximum(mx.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
        similarity = mx.where(
            (~free | taken)[:, None, :], unit(k) @ unit(keys).swapaxes(1, 2), -mx.inf
        )
        merge = (mx.argmax(similarity, axis=-1)[..., None] == mx.arange(n)) & ~fresh.any(
            axis=-1, keepdims=True
        )
        assign = (fresh | merge).astype(mx.float32) * weights[..., None]  # (H, N, slots)
        weight = held + assign.sum(axis=1)
        mean = lambda old, new: mx.where(  # noqa: E731
            (weight > 0)[..., None],
            (held[..., None] * old + assign.swapaxes(1, 2) @ new)
            / mx.maximum(weight, 1e-30)[..., None],
            old,
        )
        return {
            **state,
            "keys": mean(state["keys"], k),
            "values": mean(state["values"], v),
            "weight": weight,
        }

    @staticmethod
    def read_state(state: dict[str, mx.array], queries: mx.array, scale: float):
        B, n_heads, L, D = queries.shape
        q = queries.reshape(B, state["weight"].shape[0], -1, D) * scale
        bias = mx.where(state["weight"] > 0, mx.log(mx.maximum(state["weight"], 1e-30)), -1e30)
        scores = (q @ state["keys"].swapaxes(1, 2)[None]).astype(mx.float32) + bias[
            None, :, None, :
        ]
        log_mass = mx.logsumexp(scores, axis=-1, keepdims=True)
        out = exp(scores - log_mass) @ state["values"][None]
        return out.reshape(B, n_heads, L, -1), log_mass.reshape(B, n_heads, L)

    def layer_diagnostics(self, layer, state):
        used = state["weight"] >= FREE_BELOW * self.config.eta
        return {"slots_used": used.astype(mx.float32).sum(axis=-1).mean()}
