"""MemNet: a memory-augmented network with an active, Hebbian graph long-term memory (MLX).

A windowed Transformer controller reads and writes a bank of memory slots. Slots written
one after the other are linked by a temporal STDP rule, reads spread through those links,
a synthesizer "dreams" over the slots every few steps, a learned meta-policy mixes top-k,
uniform and random reads, and a reconstruction head must rebuild the input from the reads.

Parts, one per module: ``config`` (every knob), ``graph`` (STDP and spreading activation),
``addressing`` (read policies, allocation), ``synthesizer`` (dreaming), ``memory`` (the
bank), ``controller`` (windowed Transformer), ``model`` (MemNet), ``losses`` (composite
objective), ``baselines`` (Transformer and LSTM of the same size), ``tasks`` (recall data),
``train``, ``dynamics`` (survival, lifetimes, entropy), ``experiments``, ``store`` (per-seed
JSON), ``report`` and ``figures``, ``commands`` (the CLI). Provenance comes from
``hebbian.io.provenance``.
"""

from .config import ABLATIONS, MemNetConfig
from .controller import TransformerController
from .graph import spread, stdp_update
from .losses import composite_loss
from .memory import MemoryTrace, MultiHeadMemoryBank
from .model import MemNet
from .synthesizer import MemorySynthesizer

__all__ = [
    "ABLATIONS",
    "MemNet",
    "MemNetConfig",
    "MemorySynthesizer",
    "MemoryTrace",
    "MultiHeadMemoryBank",
    "TransformerController",
    "composite_loss",
    "spread",
    "stdp_update",
]
