"""The Hebbian engine: a bounded, importance-scoring KV cache and the attention that feeds it,
attached to unmodified mlx-lm models, with strategies that consolidate what it evicts.

One forward pass, where each part lives:
- engine.py: HebbianEngine feeds a conversation through mlx-lm (stream_generate, or chunks of
  prefill_chunk tokens when scoring) and undoes a call that fails (snapshot.py);
- compiled.py: SteadyDecoder runs a steady decoding step as one compiled call, replaying the
  model's whole pass; every other pass runs the model as it is;
- patch.py: the model's attention calls attention.attention for a HebbianCache layer;
- cache.py: HebbianCache.update_and_fetch joins the pass (its Step, worked out once by the
  timeline for every layer: timeline.py, layout.py), and HebbianCache.step runs the layer's step,
  step.layer_step (writes, memory read, attention, importance and links; one pure function,
  compiled when steady), then settles: evicted tokens go to the strategy, the last layer moves
  the timeline's counters;
- consolidation/: the strategies (one class per mode, registered), what evicted tokens become.
"""

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
