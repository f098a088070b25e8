"""Consolidation strategies: what happens to the tokens the cache evicts (EngineConfig.mode).

Importing this package registers the built-in modes, in this order (MODES); base.py says what a
strategy is and how a new one registers.
"""

from __future__ import annotations

from importlib import import_module

# The built-in modes register as their modules are imported: in this order (MODES).
BUILT_IN = ("off", "rank1", "association", "memory", "slots", "episodic")
for _mode in BUILT_IN:
    import_module(f".{_mode}", __name__)

import mlx.nn as nn  # noqa: E402

from .association import Association  # noqa: E402
from .base import (  # noqa: E402
    Knob,
    LayerShape,
    Strategy,
    all_knobs,
    modes,
    register_strategy,
    strategy_class,
)
from .episodic import Episodic  # noqa: E402
from .memory import Memory  # noqa: E402
from .off import Off  # noqa: E402
from .rank1 import Rank1  # noqa: E402
from .slots import Slots  # noqa: E402


def make_strategy(model: nn.Module | None, config, layers: list[int]) -> Strategy:
    """The strategy config.mode names, over `layers` (the null one, Off, for "off")."""
    return strategy_class(config.mode)(config, model, layers)


__all__ = [
    "Association",
    "Episodic",
    "Knob",
    "LayerShape",
    "Memory",
    "Off",
    "Rank1",
    "Slots",
    "Strategy",
    "all_knobs",
    "make_strategy",
    "modes",
    "register_strategy",
    "strategy_class",
]
