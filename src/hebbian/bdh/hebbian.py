"""A Hebbian layer with k-winner-take-all, and a logger of its internal state (seed 000).

The layer learns without gradients: for a batch of inputs x (B, n_in) it computes
y = kWTA(x @ W), keeping the k strongest units of each row, then strengthens the synapses
between co-active inputs and winners,

    W <- (1 - decay) * W + eta * x^T y          (the sum of the rows' outer products)

and rescales any unit whose incoming weight vector grew past ``max_norm``. Decay and the
norm bound are what keep plain Hebb (a positive feedback loop) from diverging; together with
k-WTA they make it competitive learning: each winner's weights move towards the inputs it
wins. With x >= 0 and a non-negative start, W stays non-negative.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import mlx.core as mx
import numpy as np


def kwta(h: mx.array, k: int) -> mx.array:
    """Keep the k largest entries of each row (last axis) and zero the rest: exactly k survive a row."""
    n = h.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in [1, {n}], got {k}")
    winners = mx.argpartition(-h, kth=k - 1, axis=-1)[..., :k]
    mask = mx.put_along_axis(mx.zeros(h.shape, dtype=mx.bool_), winners, mx.array(True), axis=-1)
    return mx.where(mask, h, 0.0)


@dataclass(frozen=True)
class HebbianConfig:
    n_in: int
    n_out: int
    k: int
    eta: float = 0.01
    decay: float = 0.001
    max_norm: float = 1.0  # bound on each unit's incoming weight vector (L2)
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.k <= self.n_out:
            raise ValueError(f"k must lie in [1, n_out={self.n_out}], got {self.k}")
        if self.eta < 0 or not 0 <= self.decay < 1 or self.max_norm <= 0:
            raise ValueError("need eta >= 0, 0 <= decay < 1 and max_norm > 0")


class HebbianLayer:
    def __init__(self, config: HebbianConfig):
        self.config = config
        rng = np.random.default_rng(config.seed)
        w = rng.uniform(0.0, 1.0, size=(config.n_in, config.n_out)).astype(np.float32)
        self.W = bound_columns(mx.array(w), config.max_norm)

    def __call__(self, x: mx.array) -> mx.array:
        """Winners' responses (B, n_out), k non-zero a row; no learning."""
        return kwta(x @ self.W, self.config.k)

    def update(self, x: mx.array, y: mx.array) -> None:
        """One Hebbian step from inputs x (B, n_in) and responses y (B, n_out)."""
        c = self.config
        self.W = bound_columns((1 - c.decay) * self.W + c.eta * (x.T @ y), c.max_norm)
        mx.eval(self.W)

    def step(self, x: mx.array) -> mx.array:
        """Respond to x, then learn from that response."""
        y = self(x)
        self.update(x, y)
        return y


def bound_columns(w: mx.array, max_norm: float) -> mx.array:
    norms = mx.linalg.norm(w, axis=0, keepdims=True)
    return w * mx.minimum(1.0, max_norm / mx.maximum(norms, 1e-12))


class StateLogger:
    """Per-step snapshots of named arrays and numbers, kept as numpy copies.

    ``log(step, activations=a, weights=W, loss=1.2)`` appends a snapshot; ``logger["weights"]``
    stacks every snapshot of one name (steps on axis 0), ``logger.steps_of(name)`` says when.
    """

    def __init__(self):
        self._values: dict[str, list] = defaultdict(list)
        self._steps: dict[str, list[int]] = defaultdict(list)

    def log(self, step: int, **values) -> None:
        for name, value in values.items():
            self._values[name].append(np.array(value, copy=True))
            self._steps[name].append(step)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._values:
            raise KeyError(f"nothing logged under {name!r}; logged: {sorted(self._values)}")
        return np.stack(self._values[name])

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def steps_of(self, name: str) -> np.ndarray:
        return np.array(self._steps[name])
