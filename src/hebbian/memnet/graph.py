"""The Hebbian graph between memory slots: a temporal STDP rule and spreading activation.

``A[b, i, j]`` is the strength of the directed edge slot i -> slot j in sequence b. When
slot i is active at step t-1 and slot j at step t, the edge i -> j grows (pre-before-post,
as in spike-timing-dependent plasticity); every edge decays a little each step. Rows are
then rescaled to sum to at most 1, so a read spread through the graph never carries more
mass than the read it came from, however long the sequence.
"""

from __future__ import annotations

import mlx.core as mx


def stdp_update(
    adjacency: mx.array, pre: mx.array, post: mx.array, rate: float, decay: float
) -> mx.array:
    """One STDP step, batched: A <- rownorm((1 - decay) A + rate * pre^T post).

    adjacency: (B, N, N); pre: (B, N), slot activity at t-1; post: (B, N), activity at t.
    ``rownorm`` divides a row by its sum only where that sum exceeds 1.
    """
    grown = (1.0 - decay) * adjacency + rate * pre[:, :, None] * post[:, None, :]
    row_mass = grown.sum(axis=-1, keepdims=True)
    return grown / mx.maximum(row_mass, 1.0)


def spread(weights: mx.array, adjacency: mx.array, alpha: float) -> mx.array:
    """Spreading activation: W_final = (1 - alpha) W_base + alpha W_base A.

    weights: (B, H, N) read addresses of H heads; adjacency: (B, N, N).
    """
    if alpha == 0:
        return weights
    return (1.0 - alpha) * weights + alpha * (weights @ adjacency)
