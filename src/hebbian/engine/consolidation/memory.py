"""memory (the seed's Option 2): a fixed-size associative memory per layer and KV head.

Evicted tokens are written as in linear attention, M += w * phi(k)^T v and z += w * phi(k), and
read as phi(q) M / (phi(q) . z) with log-mass log(phi(q) . z), merged with the window's softmax
by the engine's attention. phi are FAVOR+ positive random features (Choromanski et al. 2021):
phi(x) = exp(omega x' - |x'|^2 / 2) / sqrt(m) with x' = x * sqrt(scale) and omega's rows
orthogonal Gaussian, so that E[phi(q) . phi(k)] = exp(scale * q . k). The read-out is then an
unbiased estimate of the evicted tokens' own (weighted) softmax mass and output, keys and
queries taken without their rotary positions.

Numerics: M and z are stored divided by exp(c), c a per-head log-scale that rises with the
largest feature written (so no exp overflows) and falls by log(decay) per evicted token (so
fading is exact and never underflows).
"""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np

from ..fastexp import exp
from .base import Knob, Strategy, at_least, heads_first, register_strategy


def orthogonal_features(m: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """m Gaussian directions in d dimensions, orthogonal within each block of d, with chi norms."""
    blocks = [np.linalg.qr(rng.standard_normal((d, d)))[0].T for _ in range(-(-m // d))]
    return np.concatenate(blocks)[:m] * np.linalg.norm(rng.standard_normal((m, d)), axis=1)[:, None]


def log_features(omega: mx.array, x: mx.array, scale: float) -> mx.array:
    """log phi(x) for x (..., d): (..., m)."""
    x = x.astype(mx.float32) * math.sqrt(scale)
    return x @ omega.T - 0.5 * (x * x).sum(axis=-1, keepdims=True) - 0.5 * math.log(omega.shape[0])


@register_strategy("memory")
class Memory(Strategy):
    summary = "a random-feature associative memory, read by attention"
    default_strength = 0.1
    knobs = {
        "features": Knob(
            128,
            "random features per memory (FAVOR+); more features, a closer estimate",
            *at_least(1),
        ),
        "seed": Knob(0, "draws the memory's random features"),
    }
    reads = True

    def initial(self, layer):
        s, m = self.shapes[layer], self.config.features
        rng = np.random.default_rng([self.config.seed, layer])
        return {
            "M": mx.zeros((s.n_kv_heads, m, s.value_dim)),
            "z": mx.zeros((s.n_kv_heads, m)),
            "c": mx.zeros((s.n_kv_heads,)),
            "mass": mx.zeros((s.n_kv_heads,)),
            "omega": mx.array(orthogonal_features(m, s.head_dim, rng).astype(np.float32)),
        }

    def update(self, layer, state, batch, weights):
        E = batch.importance.shape[-1]
        keys, values = heads_first(batch.keys), heads_first(batch.values).astype(mx.float32)
        # (H, N, m)
        a = mx.log(weights)[..., None] + log_features(
            state["omega"], keys, self.shapes[layer].scale
        )
        faded = state["c"] + E * math.log(self.config.decay)
        c = mx.maximum(faded, a.max(axis=(1, 2)))
        fade, e = exp(faded - c), exp(a - c[:, None, None])
        return {
            **state,
            "c": c,
            "z": fade[:, None] * state["z"] + e.sum(axis=1),
            "M": fade[:, None, None] * state["M"] + e.swapaxes(1, 2) @ values,
        }

    @staticmethod
    def read_state(state: dict[str, mx.array], queries: mx.array, scale: float):
        B, n_heads, L, D = queries.shape
        q = queries.reshape(B, state["z"].shape[0], -1, D)
        lq = log_features(state["omega"], q, scale)
        top = lq.max(axis=-1, keepdims=True)
        pq = exp(lq - top)
        mass = mx.maximum(pq @ state["z"][None, :, :, None], 1e-30)
        out = (pq @ state["M"][None]) / mass
        log_mass = mx.log(mass) + top + state["c"][None, :, None, None]
        return out.reshape(B, n_heads, L, -1), log_mass.reshape(B, n_heads, L)
