"""MemNet: embedding -> windowed Transformer controller -> Hebbian graph memory -> fusion -> logits.

The controller's states drive the memory's reads and writes; a fusion layer merges each
step's read vectors into the controller state before the output head. A separate
reconstruction ("hallucination") head must rebuild the input token's embedding from the
read vectors alone, which rewards memories that keep the input's content.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from .config import MemNetConfig
from .controller import TransformerController
from .memory import MemoryTrace, MultiHeadMemoryBank


@dataclass
class MemNetAux:
    """Everything besides the logits that the composite loss and the analyses need."""

    trace: MemoryTrace
    hallucination: mx.array  # (B, T, d) input embeddings rebuilt from the reads
    embedded: mx.array  # (B, T, d) the actual input embeddings (gradient stopped)


class Fusion(nn.Module):
    """h + MLP([h; reads]), normalised: the read vectors enter as a residual correction.

    The weights from the reads start at zero. Untrained reads are noise to the output, and
    with them wired in from the first step the optimiser's quickest fix was to shut every
    write gate within ~30 steps, after which memory took hundreds of steps to come back.
    """

    def __init__(self, dims: int, read_dims: int):
        super().__init__()
        self.from_state = nn.Linear(dims, 2 * dims)
        self.from_reads = nn.Linear(read_dims, 2 * dims, bias=False)
        self.from_reads.weight = mx.zeros_like(self.from_reads.weight)
        self.out = nn.Linear(2 * dims, dims)
        self.norm = nn.LayerNorm(dims)

    def __call__(self, h: mx.array, reads: mx.array) -> mx.array:
        return self.norm(h + self.out(nn.relu(self.from_state(h) + self.from_reads(reads))))


class MemNet(nn.Module):
    """The memory-augmented network; ``__call__(tokens, key) -> (logits, MemNetAux)``."""

    def __init__(self, config: MemNetConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        read_dims = config.read_heads * config.slot_dim
        self.embedding = nn.Embedding(config.vocab_size, d)
        self.controller = TransformerController(d, config.n_layers, config.n_heads, config.window)
        self.memory = MultiHeadMemoryBank(config)
        self.fusion = Fusion(d, read_dims)
        self.head = nn.Linear(d, config.vocab_size)
        self.reconstruction = nn.Linear(read_dims, d)
        self.read_norm = nn.LayerNorm(read_dims, affine=False)

    def __call__(self, tokens: mx.array, key: mx.array | None = None) -> tuple[mx.array, MemNetAux]:
        """tokens (B, T) int -> logits (B, T, vocab); ``key`` seeds the random read policy (default 0)."""
        key = mx.random.key(0) if key is None else key
        x = self.embedding(tokens)
        h = self.controller(x)
        trace = self.memory(h, key)
        reads = self.read_norm(trace.reads.reshape(*trace.reads.shape[:2], -1))
        logits = self.head(self.fusion(h, reads))
        aux = MemNetAux(trace, self.reconstruction(reads), mx.stop_gradient(x))
        return logits, aux
