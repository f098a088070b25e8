"""Attaching the engine's attention to an mlx-lm model without forking its forward pass.

mlx-lm model modules import `scaled_dot_product_attention` by name and look it up in their own
globals at call time. Installing swaps that name, in each module that defines one of the
model's classes, for a dispatcher that runs the engine's attention for a HebbianCache and calls
the exact original for any other cache. Installs are reference counted per module (models of
one architecture share a module); the last removal puts the original object back. `patched`
also wraps the K/V projections (sidepath.py) for its duration, for a strategy that adds side
paths to them (fast weights) or records the layer inputs they see.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from types import ModuleType

import mlx.nn as nn

from .attention import attention
from .cache import HebbianCache
from .sidepath import attach, detach

NAME = "scaled_dot_product_attention"
_installed: dict[str, tuple[object, object, int]] = {}  # module -> (original, dispatcher, count)


def _dispatcher(original):
    def scaled_dot_product_attention(*args, **kwargs):
        cache = kwargs["cache"] if "cache" in kwargs else args[3]
        if isinstance(cache, HebbianCache):
            return attention(*args, **kwargs)
        return original(*args, **kwargs)

    return scaled_dot_product_attention


def model_modules(model: nn.Module) -> list[ModuleType]:
    """The modules whose globals the model's attention code reads `scaled_dot_product_attention` from.

    A method runs in the module that defines it, so this covers every class in the MRO of
    the model and of its submodules.
    """
    names = {cls.__module__ for m in [model, *model.modules()] for cls in type(m).__mro__}
    modules = [sys.modules[n] for n in sorted(names) if hasattr(sys.modules.get(n), NAME)]
    if not modules:
        raise ValueError(
            f"{type(model).__module__} does not call mlx-lm's {NAME}; the engine cannot attach"
        )
    return modules


def install(model: nn.Module) -> None:
    for module in model_modules(model):
        name = module.__name__
        if name in _installed:
            original, dispatcher, count = _installed[name]
        else:
            original = getattr(module, NAME)
            dispatcher = _dispatcher(original)
            setattr(module, NAME, dispatcher)
            count = 0
        _installed[name] = (original, dispatcher, count + 1)


def remove(model: nn.Module) -> None:
    for module in model_modules(model):
        name = module.__name__
        if name not in _installed:
            continue
        original, dispatcher, count = _installed[name]
        if count > 1:
            _installed[name] = (original, dispatcher, count - 1)
            continue
        del _installed[name]
        if getattr(module, NAME) is dispatcher:  # leave alone whatever someone set after us
            setattr(module, NAME, original)


def is_installed(model: nn.Module) -> bool:
    return all(m.__name__ in _installed for m in model_modules(model))


@contextmanager
def patched(model: nn.Module, strategy=None):
    """Run `model` with the engine's attention for HebbianCache layers, and with the K/V wrappers
    of `strategy` if it wants them (side_targets, records_inputs); restores everything on exit."""
    install(model)
    try:
        wrapped = getattr(strategy, "side_targets", ()) or getattr(
            strategy, "records_inputs", False
        )
        attached = bool(wrapped) and attach(model, strategy)
        try:
            yield model
        finally:
            if attached:
                detach(model, strategy)
    finally:
        remove(model)
