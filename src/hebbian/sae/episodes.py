"""The seed's synthetic "narrative episodes": fixed-size vectors with labelled events.

Two generators, as in the seed's phases:

- :func:`random_episodes` (Phase 2): uniform random vectors; the first two get
  a block of features boosted by +0.8 ("important events").
- :func:`sine_episodes` (Phases 3-5): a noisy sine wave per episode; episode 0
  ("emotional") has its amplitude boosted over the first quarter, episode 1
  ("chaotic") a high-frequency wave over the second quarter, the rest are
  "routine".

Each comes with narrative labels and the seed's two kinds of importance
weights: a sparsity weight (lower = less sparsity pressure) and a
reconstruction weight (higher = reconstruct more faithfully). The seed does
not give the exact values; the defaults in :data:`SPARSITY_WEIGHTS` and
:data:`RECON_WEIGHTS` keep its ordering (emotional < chaotic < routine for
sparsity; the reverse for reconstruction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMOTIONAL, CHAOTIC, ROUTINE = "emotional", "chaotic", "routine"
SPARSITY_WEIGHTS = {EMOTIONAL: 0.1, CHAOTIC: 0.5, ROUTINE: 1.0}
RECON_WEIGHTS = {EMOTIONAL: 3.0, CHAOTIC: 2.0, ROUTINE: 1.0}


@dataclass(frozen=True)
class Episodes:
    """A batch of episodes [N, size] with one narrative label per episode.

    ``clean`` is the noise-free signal where the generator has one (sine waves),
    so that reconstructions can be scored for denoising as well as fidelity.
    """

    x: np.ndarray
    labels: tuple[str, ...]
    clean: np.ndarray | None = None

    def sparsity_weights(self, table: dict[str, float] = SPARSITY_WEIGHTS) -> np.ndarray:
        return np.array([table[label] for label in self.labels], np.float32)

    def recon_weights(self, table: dict[str, float] = RECON_WEIGHTS) -> np.ndarray:
        return np.array([table[label] for label in self.labels], np.float32)

    def index(self, label: str) -> np.ndarray:
        """Row indices of the episodes labelled ``label``."""
        return np.flatnonzero(np.array(self.labels) == label)


def _labels(n: int) -> tuple[str, ...]:
    if n < 4:
        raise ValueError(f"need at least 4 episodes (emotional, chaotic, two routine), got {n}")
    return (EMOTIONAL, CHAOTIC) + (ROUTINE,) * (n - 2)


def random_episodes(
    n: int = 10, size: int = 300, boost: float = 0.8, block: int = 20, seed: int = 0
) -> Episodes:
    """Uniform [0, 1) vectors; episodes 0 and 1 get ``boost`` added on disjoint feature blocks."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size)).astype(np.float32)
    x[0, size // 10 : size // 10 + block] += boost
    x[1, size // 2 : size // 2 + block] += boost
    return Episodes(x, _labels(n))


def sine_episodes(
    n: int = 10,
    size: int = 300,
    cycles: float = 3.0,
    noise: float = 0.1,
    amplitude_boost: float = 3.0,
    chaotic_cycles: float = 24.0,
    seed: int = 0,
) -> Episodes:
    """Noisy sine waves; an amplitude-boosted emotional and a high-frequency chaotic event."""
    rng = np.random.default_rng(seed)
    t = np.arange(size) / size
    base = np.sin(2 * np.pi * cycles * t)
    x = np.tile(base, (n, 1))
    quarter = size // 4
    x[0, :quarter] *= amplitude_boost
    x[1, quarter : 2 * quarter] = np.sin(2 * np.pi * chaotic_cycles * t[quarter : 2 * quarter])
    noisy = x + noise * rng.standard_normal((n, size))
    return Episodes(noisy.astype(np.float32), _labels(n), x.astype(np.float32))
