"""A layer's RoPE as operations on keys the model already rotated.

The cache needs three of them: rotate a block of un-rotated keys to consecutive positions (its
sinks and heavy hitters, re-placed just before the recent window at each step), undo the
rotation of keys each at its own position (evicted keys handed to a consolidator, which wants
them position-free), and turn a whole block by one common angle (re-basing positions). Only the
rotation is reproduced: input scalings some RoPE variants fold in (SuScaled/YaRN "mscale") were
applied once by the model, stay in the stored keys, and must not be applied twice.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


class Rotary:
    """Built from mlx's nn.RoPE or an mlx-lm RoPE variant with fixed frequencies (Llama3, YaRN,
    SuScaled, Proportional). Position-dependent schemes (dynamic NTK) are refused."""

    def __init__(self, rope: nn.Module):
        self.dims = getattr(rope, "dims", None) or getattr(rope, "dim", None)
        self.traditional = getattr(rope, "traditional", False)
        freqs = getattr(rope, "_freqs", None)
        if isinstance(rope, nn.RoPE):
            self.scale, self.settings = rope.scale, {"base": rope.base}
        elif freqs is not None and self.dims is not None:
            self.scale, self.settings = 1.0, {"base": None, "freqs": freqs}
        else:
            raise ValueError(
                f"cannot re-rotate keys with {type(rope).__name__}: use positions='original' for this model"
            )

    def _rope(self, x: mx.array, offset, inverse: bool) -> mx.array:
        # The angle is scale * position * frequency, so a negated scale is the exact inverse.
        scale = -self.scale if inverse else self.scale
        return mx.fast.rope(x, self.dims, traditional=self.traditional, scale=scale, offset=offset, **self.settings)

    def rotate(self, x: mx.array, offset: int) -> mx.array:
        """Row t of x (..., T, D) turned to position offset + t."""
        return self._rope(x, offset, inverse=False)

    def unrotate(self, x: mx.array, offset: int) -> mx.array:
        """Undo `rotate(x, offset)`."""
        return self._rope(x, offset, inverse=True)

    def unrotate_at(self, x: mx.array, positions: mx.array) -> mx.array:
        """Undo the rotation of each row of x (..., E, D), row i having been turned to positions[..., i]."""
        # mx.fast.rope takes one offset per leading index: give every row its own.
        rows = x.reshape(-1, 1, 1, x.shape[-1])
        return self._rope(rows, positions.reshape(-1).astype(mx.int32), inverse=True).reshape(x.shape)

    def turn_back(self, x: mx.array, shift: int) -> mx.array:
        """Every row of x (..., T, D) moved `shift` positions back, whatever its position."""
        rows = x.reshape(x.shape[0], -1, 1, x.shape[-1])
        return self._rope(rows, shift, inverse=True).reshape(x.shape)
