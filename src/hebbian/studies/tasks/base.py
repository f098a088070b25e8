"""The task interface of a study (one trial of an item under a condition) and the registry of tasks.

A task is a class registered under a name with ``@register_task(name)``. It
is built from the pre-registration's task parameters (checked, defaults
filled in) and its item seed, yields items deterministically (``items(n)`` is
always a prefix of ``items(n + k)``, so a smoke run and a resumed run see the
same items), and scores one item under one condition's engine configuration
with ``run_trial``. Items are paired across conditions: every condition runs
on every item. A task that keeps state between trials (an engine whose
weights consolidate) must reset it in ``run_trial``, so trials stay
independent and a resumed run matches an uninterrupted one.

``params`` and ``config`` describe the task's parameters and its condition
configs as ``schema.Field`` mappings, checked when the pre-registration is
loaded (None accepts any mapping). ``metrics`` names each outcome metric
``run_trial`` returns and whether it is 'binary' or 'continuous' (an outcome a pre-registration
may analyse) or 'text' (kept in the trial record, as a generated reply is, and never analysed).
To drop an
item under a pre-registered exclusion rule, ``run_trial`` raises
``TrialExcluded``; the item then leaves every comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hebbian.studies.schema import Field

METRIC_TYPES = ("binary", "continuous")  # what an outcome can be
# what a trial can record: text (a reply) is kept, never analysed
RECORD_TYPES = (*METRIC_TYPES, "text")


@dataclass(frozen=True)
class Item:
    """One unit of a study: a stable id, its position in the task's item order, and task data."""

    id: str
    index: int
    data: Mapping[str, Any] = field(default_factory=dict)


class TrialExcluded(Exception):
    """Raised by ``run_trial`` when a pre-registered exclusion rule drops the item; the message is the reason."""


class Task:
    """Base class of a study task; subclasses set the class attributes and the two methods."""

    name: ClassVar[str] = ""
    metrics: ClassVar[Mapping[str, str]] = {}
    params: ClassVar[Mapping[str, Field] | None] = {}
    config: ClassVar[Mapping[str, Field] | None] = None

    def __init__(self, params: Mapping[str, Any], seed: int):
        self.settings = dict(params)
        self.seed = seed

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> str | None:
        """What is wrong with a condition's config beyond what ``config``'s Fields check, or None."""
        return None

    def items(self, n: int) -> list[Item]:
        """The first ``n`` items, the same for the same parameters and seed."""
        raise NotImplementedError

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float]:
        """Score ``item`` under a condition's ``config``; ``seed`` is this (item, condition)'s own seed."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: make a Task subclass available to pre-registrations as ``task: {name: ...}``."""

    def add(cls: type[Task]) -> type[Task]:
        bad = {m: t for m, t in cls.metrics.items() if t not in RECORD_TYPES}
        if bad:
            raise ValueError(
                f"task {name!r}: metric types must be one of {RECORD_TYPES}, got {bad}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def task_names() -> tuple[str, ...]:
    """Names of the registered tasks, sorted (messages must not depend on import order)."""
    return tuple(sorted(_REGISTRY))


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name`` (KeyError if none)."""
    return _REGISTRY[name]
