"""What a study runs: tasks, their items, and one trial of an item under a condition.

The task interface and the registry are in ``base`` (re-exported here); importing this package
imports every task module, which registers its task: ``synthetic`` (known effects, for testing
the machinery), ``recall``, ``needle``, ``perplexity`` and ``continuation`` (the real model
behind a HebbianEngine: ``engine_task``). A task module imports ``base`` (and ``engine_task``),
never this package, so no import runs in a circle.
"""

from __future__ import annotations

from hebbian.studies.tasks import continuation, needle, perplexity, recall, synthetic  # noqa: F401  (registers them)
from hebbian.studies.tasks.base import (
    METRIC_TYPES,
    RECORD_TYPES,
    Item,
    Task,
    TrialExcluded,
    get_task,
    register_task,
    task_names,
)

__all__ = [
    "METRIC_TYPES",
    "RECORD_TYPES",
    "Item",
    "Task",
    "TrialExcluded",
    "get_task",
    "register_task",
    "task_names",
]
