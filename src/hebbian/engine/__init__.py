"""The Hebbian engine: a bounded, importance-scoring KV cache and the attention that feeds it,
attached to unmodified mlx-lm models, with strategies that consolidate what it evicts."""

from .attention import attention, explicit_attention
from .cache import HebbianCache, full_attention_layers, make_cache
from .compiled import SteadyDecoder
from .config import EngineConfig
from .consolidation import Knob, Strategy, make_strategy, modes, register_strategy
from .engine import HebbianEngine
from .evicted import Evicted
from .patch import install, is_installed, patched, remove
from .prefill import prefill
from .state import StateFileError


def __getattr__(name: str):
    """MODES: the registered modes, read when asked."""
    if name == "MODES":
        return modes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODES",
    "EngineConfig",
    "Evicted",
    "HebbianCache",
    "HebbianEngine",
    "Knob",
    "StateFileError",
    "SteadyDecoder",
    "Strategy",
    "attention",
    "explicit_attention",
    "full_attention_layers",
    "install",
    "is_installed",
    "make_cache",
    "make_strategy",
    "modes",
    "patched",
    "prefill",
    "register_strategy",
    "remove",
]
