"""A layer's RoPE as a pair of operations: rotate keys to positions, and undo that rotation.

Used by the cache's "cache" position scheme, which stores keys without their rotation and
rotates the whole cache to positions 0..T-1 at each step. Only the rotation is reproduced:
input scalings some RoPE variants fold in (SuScaled/YaRN "mscale") were applied once by the
model, stay in the stored keys, and must not be applied twice.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


class Rotary:
    """rotate(x, offset) turns row t of x (..., T, D) by position offset + t; unrotate undoes it.

    Built from mlx's nn.RoPE or an mlx-lm RoPE variant with fixed frequencies (Llama3, YaRN,
    SuScaled, Proportional). Position-dependent schemes (dynamic NTK) are refused.
    """

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

    def rotate(self, x: mx.array, offset: int) -> mx.array:
        return mx.fast.rope(x, self.dims, traditional=self.traditional, scale=self.scale, offset=offset,
                            **self.settings)

    def unrotate(self, x: mx.array, offset: int) -> mx.array:
        # The angle is scale * position * frequency, so a negated scale is the exact inverse.
        return mx.fast.rope(x, self.dims, traditional=self.traditional, scale=-self.scale, offset=offset,
                            **self.settings)
