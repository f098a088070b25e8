"""Snapshots of the engine's host-side state, written once for every object that has some.

The engine undoes a call that fails half way, `fork` forgets what its block fed, and a compiled
step's trace runs the caches' and the strategy's own code, which must leave no trace of itself.
Each object's state is its attributes; arrays are never mutated in place (a step replaces them),
so a snapshot copies the containers that hold them (dicts, lists, sets and mutable dataclasses,
recursively) and shares everything else: arrays, numbers, strings, tuples, frozen dataclasses,
modules and other objects. A copied container is a new object, so a cache that remembers which
state it was made from compares the state's arrays, not the dict holding them. Attributes named
in `_fixed` are set once and left out.
"""

from __future__ import annotations

import copy
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any, ClassVar

import mlx.core as mx
import numpy as np

# what is shared as it is, checked before a call (a large store holds many of them)
_SHARED = frozenset({mx.array, np.ndarray, int, float, bool, str, tuple, type(None)})


@cache
def _fields(kind: type) -> tuple[str, ...] | None:
    """The field names of a mutable dataclass, None for any other type."""
    if not is_dataclass(kind) or kind.__dataclass_params__.frozen:
        return None
    return tuple(f.name for f in fields(kind))


def copied(x: Any) -> Any:
    """x with its containers copied (exact types only: an nn.Module is a dict, and is shared)."""
    kind = type(x)
    if kind in _SHARED:
        return x
    if kind is dict:
        return {k: v if type(v) in _SHARED else copied(v) for k, v in x.items()}
    if kind is list:
        return [v if type(v) in _SHARED else copied(v) for v in x]
    if kind is set:
        return set(x)
    names = _fields(kind)
    if names is None:
        return x
    twin = copy.copy(x)
    for name in names:
        value = getattr(x, name)
        if type(value) not in _SHARED:
            setattr(twin, name, copied(value))
    return twin


class Snapshots:
    """snapshot() and restore() of an object's attributes (see the module docstring)."""

    _fixed: ClassVar[tuple[str, ...]] = ()

    def snapshot(self) -> dict[str, Any]:
        return {k: copied(v) for k, v in vars(self).items() if k not in self._fixed}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Back to `snapshot` (which stays usable: it can be restored again)."""
        self.__dict__.update(copied(snapshot))
