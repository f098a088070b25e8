"""What the memory kept and what it forgot, measured from a MemoryTrace (numpy in, numpy out).

Under the convex write rule a slot keeps the fraction 1 - omega of its content at every
step, so the share of a write made at step t that is still in memory at step s > t is
exactly ``sum_i omega_ti prod_{u=t+1..s} (1 - omega_ui)`` (dreaming aside, which refines
contents rather than replacing them). From that follow:
- survival curves: retention after a delay, averaged over the writes of one token role;
- slot lifetimes: steps per full overwrite of a slot, T / sum_t omega_ti;
- write frequency: write mass per token role and per slot;
- read entropy: how diffuse each read is (log N for uniform, 0 for one slot).
"""

from __future__ import annotations

import numpy as np


def retention(write_weights: np.ndarray) -> np.ndarray:
    """(B, T, N) omega -> (B, T, T) R[b, t, s]: share of the write at t still held at s (0 for s < t).

    R is normalised by the write's own mass, so R[b, t, t] = 1 for any write that wrote something.
    """
    omega = np.clip(write_weights.astype(np.float64), 0.0, 1.0)
    steps = omega.shape[1]
    log_kept = np.cumsum(np.log(np.maximum(1.0 - omega, 1e-12)), axis=1)  # (B, T, N)
    # kept from just after t up to s: exp(log_kept[s] - log_kept[t])
    # (B, t, s, N)
    span = np.exp(np.clip(log_kept[:, None, :, :] - log_kept[:, :, None, :], None, 0.0))
    mass = omega.sum(axis=-1, keepdims=True)
    share = omega / np.maximum(mass, 1e-12)
    held = np.einsum("btn,btsn->bts", share, span)
    later = np.triu(np.ones((steps, steps), bool))
    return np.where(later[None], held, 0.0)


def survival_by_role(
    write_weights: np.ndarray, roles: np.ndarray, role: int, horizon: int
) -> np.ndarray:
    """Mean retention after delays 0..horizon-1 of the writes made at positions of ``role``.

    Each delay averages over the writes that still have that many steps left in their
    sequence; delays no write reaches are NaN.
    """
    held = retention(write_weights)
    batch_idx, step_idx = np.nonzero(roles == role)
    steps = write_weights.shape[1]
    curve = np.full(horizon, np.nan)
    for delay in range(horizon):
        ok = step_idx + delay < steps
        if ok.any():
            curve[delay] = held[batch_idx[ok], step_idx[ok], step_idx[ok] + delay].mean()
    return curve


def write_mass_by_role(write_weights: np.ndarray, roles: np.ndarray, n_roles: int) -> np.ndarray:
    """Mean total write mass (sum over slots of omega) at positions of each role; NaN if absent."""
    mass = write_weights.sum(axis=-1)
    return np.array(
        [mass[roles == r].mean() if (roles == r).any() else np.nan for r in range(n_roles)]
    )


def slot_lifetimes(write_weights: np.ndarray) -> np.ndarray:
    """Per slot, steps per full overwrite, T / sum_t omega (averaged over sequences first)."""
    steps = write_weights.shape[1]
    per_slot = write_weights.sum(axis=1).mean(axis=0)
    return steps / np.maximum(per_slot, 1e-9)


def read_entropy(read_weights: np.ndarray) -> np.ndarray:
    """(B, T, H, N) -> (T,) entropy in nats of each read (renormalised), averaged over batch and heads."""
    p = read_weights / np.maximum(read_weights.sum(axis=-1, keepdims=True), 1e-12)
    entropy = -(p * np.log(np.maximum(p, 1e-12))).sum(axis=-1)
    return entropy.mean(axis=(0, 2))
