"""Consolidation strategies: what happens to the tokens the cache evicts (EngineConfig.mode)."""

from __future__ import annotations

import mlx.nn as nn

from ..config import EngineConfig
from .association import Association
from .base import LayerShape, Strategy
from .episodic import Episodic
from .memory import Memory
from .rank1 import Rank1
from .slots import Slots

STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (Rank1, Association, Memory, Slots, Episodic)
}


def make_strategy(model: nn.Module, config: EngineConfig, layers: list[int]) -> Strategy | None:
    """The strategy config.mode names over `layers` (None for "off")."""
    return None if config.mode == "off" else STRATEGIES[config.mode](config, model, layers)


__all__ = [
    "STRATEGIES",
    "Association",
    "Episodic",
    "LayerShape",
    "Memory",
    "Rank1",
    "Slots",
    "Strategy",
    "make_strategy",
]
