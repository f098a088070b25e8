"""The K/V projection wrapper that fast-weight strategies (and any that records inputs) need.

Attention never sees a layer's input h, only its projections, so strategies that key updates
by h (rank1, association; any with records_inputs) wrap each HebbianCache layer's
`self_attn.k_proj` and `v_proj`:
the wrapper returns strategy.side(layer, target, x, y): y = base(x) plus the strategy's addition
(the base projection, quantized or not, is never touched). k_proj's wrapper also keeps x for
the layer's cache to take with the step's keys, so evicted tokens' inputs are handed over with
them. `attach` and `detach` put the wrappers in and the original modules back.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


class SidePath(nn.Module):
    def __init__(self, base: nn.Module, layer: int, target: str, strategy):
        super().__init__()
        self.base = base
        self._layer, self._target, self._strategy = layer, target, strategy
        self._input = None  # underscore: kept out of the model's parameters

    def __call__(self, x: mx.array) -> mx.array:
        if self._target == "k":
            self._input = x
        return self._strategy.side(self._layer, self._target, x, self.base(x))

    def take_input(self) -> mx.array | None:
        x, self._input = self._input, None
        return x


def attach(model: nn.Module, strategy) -> bool:
    """Wrap the K/V projections of the strategy's layers; False (and nothing done) if they
    already carry its wrappers, so that nested `patched` calls leave them to the outer one."""
    projections = [
        (i, t, getattr(model.layers[i].self_attn, f"{t}_proj"))
        for i in strategy.shapes
        for t in "kv"
    ]
    for i, t, current in projections:
        if isinstance(current, SidePath):
            if current._strategy is not strategy:
                raise RuntimeError(
                    f"layer {i}: another strategy's side path is attached to {t}_proj"
                )
            return False
    for i, t, base in projections:
        setattr(model.layers[i].self_attn, f"{t}_proj", SidePath(base, i, t, strategy))
    return True


def detach(model: nn.Module, strategy) -> None:
    """Put back the projections `attach` wrapped."""
    for i in strategy.shapes:
        attn = model.layers[i].self_attn
        for t in "kv":
            current = getattr(attn, f"{t}_proj")
            if isinstance(current, SidePath) and current._strategy is strategy:
                setattr(attn, f"{t}_proj", current.base)
