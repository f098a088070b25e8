"""Snapshots of the engine's host-side state, written once for every object that has some.

The engine undoes a call that fails half way, `fork` forgets what its block fed, and a compiled
step's trace runs the caches' and the strategy's own code, which must leave no trace of itself.
Each object's state is its attributes; arrays are never mutated in place (a step replaces them),
so a snapshot copies the containers that hold them (dicts, lists, sets and mutable dataclasses,
recursively) and shares everything else: arrays, numbers, strings, tuples, frozen dataclasses,
modules and other objects. Attributes named in `_fixed` are set once and left out.
"""

from __future__ import annotations

import copy
from dataclasses import fields, is_dataclass
from typing import Any, ClassVar


def copied(x: Any) -> Any:
    """x with its containers copied (exact types only: an nn.Module is a dict, and is shared)."""
    kind = type(x)
    if kind is dict:
        return {k: copied(v) for k, v in x.items()}
    if kind is list:
        return [copied(v) for v in x]
    if kind is set:
        return set(x)
    if is_dataclass(x) and not isinstance(x, type) and not kind.__dataclass_params__.frozen:
        twin = copy.copy(x)
        for f in fields(x):
            setattr(twin, f.name, copied(getattr(x, f.name)))
        return twin
    return x


class Snapshots:
    """snapshot() and restore() of an object's attributes (see the module docstring)."""

    _fixed: ClassVar[tuple[str, ...]] = ()

    def snapshot(self) -> dict[str, Any]:
        return {k: copied(v) for k, v in vars(self).items() if k not in self._fixed}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Back to `snapshot` (which stays usable: it can be restored again)."""
        self.__dict__.update(copied(snapshot))
