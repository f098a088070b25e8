"""The base of the tasks that run the real model behind a HebbianEngine, one engine per condition.

A condition's config is an engine configuration (``hebbian.engine.EngineConfig`` keys) plus the
task's own keys (``TASK_KEYS``: ``show_fact`` for recall, and ``oracle`` too for the needle),
which never reach the engine. ``check_config`` validates a config when the pre-registration (or
a tuning grid) is loaded, before any trial: a key that is neither an engine setting nor the
task's own, a value of the wrong kind for its setting, and what ``EngineConfig`` itself refuses
(a mode it does not know, a heavy-hitter share the window cannot hold) are each one line.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from hebbian.studies.schema import describe_value
from hebbian.studies.tasks.base import Task

# the kinds of value an engine setting may take, as the settings' annotations name them
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _accepts(annotation: Any, value: Any) -> bool | None:
    """Whether ``value`` fits a setting annotated ``annotation`` (an int fits a float, a bool
    nothing but a bool); None when the annotation is not one this check knows."""
    if annotation is type(None):
        return value is None
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        answers = [_accepts(a, value) for a in typing.get_args(annotation)]
        return None if None in answers else any(answers)
    if annotation not in _KINDS:
        return None
    if isinstance(value, bool) or annotation is bool:
        return isinstance(value, bool) and annotation is bool
    if annotation is float:
        return isinstance(value, (int, float))
    return isinstance(value, annotation)


def _kind(annotation: Any) -> str:
    """How a setting's kind reads in a message: 'an integer', 'a number or nothing'."""
    args = typing.get_args(annotation) or (annotation,)
    return " or ".join("nothing" if a is type(None) else _KINDS.get(a, str(a)) for a in args)


def engine_config_problem(knobs: Mapping[str, Any]) -> str | None:
    """What is wrong with ``knobs`` as ``EngineConfig`` keyword arguments, in one line, or None.

    The keys are checked against ``EngineConfig``'s parameters and the values against their
    annotations before the config is built; the config's own checks (``ValueError``) come last.
    """
    from hebbian.engine import EngineConfig

    settings = inspect.signature(EngineConfig).parameters
    unknown = [key for key in knobs if key not in settings]
    if unknown:
        return f"not an engine setting: {', '.join(map(repr, unknown))}"
    hints = typing.get_type_hints(EngineConfig)
    for key, value in knobs.items():
        if key in hints and _accepts(hints[key], value) is False:
            return f"{key}: expected {_kind(hints[key])}, got {describe_value(value)}"
    try:
        EngineConfig(**knobs)
    except ValueError as e:
        return str(e)
    return None


def reads_position(engine, position: int) -> bool:
    """Whether a block the engine's memory reads next holds sequence position `position` (false
    where the mode reads no blocks): the retrieval check."""
    read = getattr(engine.strategy, "selected_positions", list)()
    return any(lo <= position <= hi for lo, hi in read)


class EngineTask(Task):
    """Shared by the tasks that run the real model behind a HebbianEngine, one per condition."""

    # a condition's own keys besides the engine's settings, kept from the engine
    TASK_KEYS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def engine_knobs(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The engine's settings of a condition's config (the task's own keys left out)."""
        return {k: v for k, v in config.items() if k not in cls.TASK_KEYS}

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> str | None:
        return engine_config_problem(cls.engine_knobs(config))

    @cached_property
    def model(self):
        from hebbian.models import load

        return load(self.settings["model"])

    def engine(self, config: Mapping[str, Any]):
        """The engine of the condition ``config`` (built once per config), reset: empty window, empty
        memory, so that trials are independent."""
        from hebbian.engine import EngineConfig, HebbianEngine

        engines = self.__dict__.setdefault("_engines", {})
        key = json.dumps(dict(config), sort_keys=True)
        if key not in engines:
            engines[key] = HebbianEngine(*self.model, EngineConfig(**self.engine_knobs(config)))
        engine = engines[key]
        engine.reset()
        return engine
