"""Consolidation strategies: what happens to the tokens the cache evicts (EngineConfig.mode).

Importing this package imports every module in it, and so registers every mode defined here:
the built-in ones first, in MODES' order, then any other module's, by module name. A new mode is
one module here (base.py says what a strategy is and how it registers).
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

# Modes register as their modules are imported: these first, in this order (MODES), then the rest.
BUILT_IN = ("off", "rank1", "association", "memory", "slots", "episodic")


def import_modules() -> None:
    """Import every module of the package (those imported already stay as they are)."""
    others = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in BUILT_IN)
    for name in (*BUILT_IN, *others):
        import_module(f".{name}", __name__)


import_modules()

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
