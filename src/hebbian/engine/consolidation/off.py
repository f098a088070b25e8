"""off: evicted tokens are dropped; the window alone (the null strategy)."""

from __future__ import annotations

from .base import Strategy, register_strategy


@register_strategy("off")
class Off(Strategy):
    summary = "drops them: the window alone"
    consolidates = False
