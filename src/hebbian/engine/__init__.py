"""The Hebbian engine: a bounded, importance-scoring KV cache and the attention that feeds it,
attached to unmodified mlx-lm models, with strategies that consolidate what it evicts."""

from .attention import MemoryReader, attention, explicit_attention
from .cache import HebbianCache, full_attention_layers, make_cache
from .compiled import SteadyDecoder
from .config import MODES, EngineConfig
from .consolidation import STRATEGIES, Strategy, make_strategy
from .engine import HebbianEngine
from .evicted import Consolidator, Evicted
from .patch import install, is_installed, patched, remove
from .prefill import prefill
from .state import StateFileError

__all__ = [
    "MODES",
    "STRATEGIES",
    "Consolidator",
    "EngineConfig",
    "Evicted",
    "HebbianCache",
    "HebbianEngine",
    "MemoryReader",
    "StateFileError",
    "Strategy",
    "attention",
    "explicit_attention",
    "full_attention_layers",
    "SteadyDecoder",
    "install",
    "is_installed",
    "make_cache",
    "make_strategy",
    "patched",
    "prefill",
    "remove",
]
