"""The Hebbian engine: a bounded, importance-scoring KV cache and the attention that feeds it,
attached to unmodified mlx-lm models."""

from .attention import MemoryReader, attention, explicit_attention
from .cache import Consolidator, HebbianCache, make_cache
from .config import EngineConfig
from .patch import install, is_installed, patched, remove
from .prefill import prefill

__all__ = [
    "Consolidator", "EngineConfig", "HebbianCache", "MemoryReader", "attention", "explicit_attention",
    "install", "is_installed", "make_cache", "patched", "prefill", "remove",
]
