"""A layer's RoPE as operations on keys the model already rotated.

The cache needs three of them: rotate a block of un-rotated keys to consecutive positions (its
sinks and heavy hitters, re-placed just before the recent window at each step), undo the
rotation of keys each at its own position (evicted keys handed to a strategy, which wants
them position-free), and turn a whole block by one common angle (re-basing positions). Only the
rotation is reproduced: input scalings some RoPE variants fold in (SuScaled/YaRN "mscale") were
applied once by the model, stay in the stored keys, and must not be applied twice.

Turning rows that share one angle (a single row, or a block moved by a common shift) is a product
with a (D, D) rotation matrix built on the host: one operation, where mx.fast.rope on a CPU is
some twenty (it has no CPU kernel), and these turns happen at every decoding step.
"""

from __future__ import annotations

from functools import lru_cache

import mlx.core as mx
import mlx.nn as nn
import numpy as np


@lru_cache(maxsize=64)
def _turn_matrix(
    omega: tuple[float, ...], head_dim: int, traditional: bool, shift: int
) -> mx.array:
    """R with (x @ R) = x turned `shift` positions on, for the angular frequencies omega (per pair)."""
    angle = shift * np.array(omega)  # float64: exact for any shift the cache uses
    cos, sin = np.cos(angle), np.sin(angle)
    first = np.arange(len(omega)) * 2 if traditional else np.arange(len(omega))
    second = first + (1 if traditional else len(omega))
    r = np.eye(head_dim)
    r[first, first], r[second, second], r[first, second], r[second, first] = cos, cos, sin, -sin
    return mx.array(r.astype(np.float32))


def turned(x: mx.array, matrix: mx.array) -> mx.array:
    """Rows of x turned by a matrix from Rotary.turn_matrix (a pure function: it can be traced)."""
    return (x.astype(mx.float32) @ matrix).astype(x.dtype)


class Rotary:
    """Built from mlx's nn.RoPE or an mlx-lm RoPE variant with fixed frequencies (Llama3, YaRN,
    SuScaled, Proportional). Position-dependent schemes (dynamic NTK) are refused."""

    def __init__(self, rope: nn.Module):
        self.dims = getattr(rope, "dims", None) or getattr(rope, "dim", None)
        self.traditional = getattr(rope, "traditional", False)
        freqs = getattr(rope, "_freqs", None)
        if isinstance(rope, nn.RoPE):
            self.scale, self.settings = rope.scale, {"base": rope.base}
            pair = np.arange(self.dims // 2) * 2 / self.dims
            self.omega = tuple(rope.scale * np.power(float(rope.base), -pair))
        elif freqs is not None and self.dims is not None:
            self.scale, self.settings = 1.0, {"base": None, "freqs": freqs}
            self.omega = tuple(1 / np.array(freqs, dtype=np.float64))
        else:
            raise ValueError(
                f"cannot re-rotate keys with {type(rope).__name__}: use positions='original' for this model"
            )

    def _rope(self, x: mx.array, offset, inverse: bool) -> mx.array:
        if x.shape[-2] == 1 and isinstance(offset, int):
            return self.turn(x, -offset if inverse else offset)
        # The angle is scale * position * frequency, so a negated scale is the exact inverse.
        scale = -self.scale if inverse else self.scale
        return mx.fast.rope(
            x, self.dims, traditional=self.traditional, scale=scale, offset=offset, **self.settings
        )

    def rotate(self, x: mx.array, offset: int) -> mx.array:
        """Row t of x (..., T, D) turned to position offset + t."""
        return self._rope(x, offset, inverse=False)

    def unrotate(self, x: mx.array, offset: int) -> mx.array:
        """Undo `rotate(x, offset)`."""
        return self._rope(x, offset, inverse=True)

    def turn(self, x: mx.array, shift: int) -> mx.array:
        """Every row of x (..., T, D) moved `shift` positions on (back if negative), whatever its position."""
        return turned(x, self.turn_matrix(shift, x.shape[-1]))

    def turn_matrix(self, shift: int, head_dim: int) -> mx.array:
        """The (D, D) matrix `turned` takes to move rows `shift` positions on (made once per shift)."""
        return _turn_matrix(self.omega, head_dim, self.traditional, shift)

    def unrotate_at(self, x: mx.array, positions: mx.array) -> mx.array:
        """Undo the rotation of each row of x (..., E, D), row i having been turned to positions[..., i]."""
        # mx.fast.rope takes one offset per leading index: give every row its own.
        rows = x.reshape(-1, 1, 1, x.shape[-1])
        return self._rope(rows, positions.reshape(-1).astype(mx.int32), inverse=True).reshape(
            x.shape
        )
