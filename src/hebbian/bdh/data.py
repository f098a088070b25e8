"""Byte-level text data: a train/validation split and seeded batches.

The vocabulary is the 256 byte values, so any UTF-8 text works unchanged. The split is by
position (the last ``val_fraction`` of the text is held out), as in nanoGPT. Validation
windows are fixed and evenly spread, so every evaluation scores the same held-out bytes.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np


def encode(text: str | bytes) -> np.ndarray:
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    return np.frombuffer(raw, dtype=np.uint8)


def decode(ids) -> str:
    return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


class ByteData:
    def __init__(self, text: str, val_fraction: float = 0.1):
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
        data = encode(text)
        cut = int(len(data) * (1 - val_fraction))
        self.train, self.val = data[:cut], data[cut:]

    def batch(
        self, rng: np.random.Generator, batch_size: int, block_size: int
    ) -> tuple[mx.array, mx.array]:
        """Random training windows: inputs and the same windows shifted by one byte."""
        starts = rng.integers(0, len(self.train) - block_size - 1, size=batch_size)
        return windows(self.train, starts, block_size)

    def val_batches(
        self, n_batches: int, batch_size: int, block_size: int
    ) -> list[tuple[mx.array, mx.array]]:
        """``n_batches`` fixed validation batches of non-overlapping windows spread over the split."""
        n = n_batches * batch_size
        if len(self.val) < n * (block_size + 1):
            raise ValueError(
                f"validation split of {len(self.val)} bytes is too short for {n} windows of {block_size}"
            )
        starts = np.linspace(0, len(self.val) - block_size - 1, n).astype(np.int64)
        return [
            windows(self.val, starts[i : i + batch_size], block_size)
            for i in range(0, n, batch_size)
        ]


def windows(data: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[mx.array, mx.array]:
    idx = starts[:, None] + np.arange(block_size + 1)
    chunk = data[idx].astype(np.int32)
    return mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])
