"""Declarative checking of parsed YAML that collects every error as one line naming its field.

A block of a file is described by a ``{key: Field}`` mapping; ``read`` checks a
value against it and appends ``"path.to.key: what is wrong"`` lines to an
error list instead of stopping at the first problem, so a user sees all of a
file's errors at once. The pre-registration (``prereg``), a tuning file (``tuning``) and each task's
parameters and condition configs (``tasks``) are described this way, and read
from YAML by ``load_yaml``, which refuses a key given twice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hebbian.studies.errors import StudyError

KINDS = {
    "text": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "mapping": "a mapping (key: value lines)",
    "list": "a list",
    "any": "a value",
}

Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Field:
    """One key of a block: its kind (a key of KINDS), whether it is required, and its constraints.

    ``choices`` lists the allowed values; ``check`` returns an error message
    for a value of the right kind but out of bounds, or None.
    """

    kind: str
    required: bool = True
    default: Any = None
    choices: tuple = ()
    check: Check | None = None


def join(path: str, key: str | int) -> str:
    """The path of ``key`` inside ``path``: ``a.b`` for names, ``a[0]`` for list positions."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def describe_value(value: Any) -> str:
    """How a wrong value reads in a message: its YAML kind and its repr."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "text",
        dict: "mapping",
        list: "list",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
    return kind if value is None else f"{kind} {value!r}"


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str) and bool(value.strip())
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "mapping":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if kind == "list":
        return isinstance(value, list)
    return kind == "any"


def check_value(value: Any, field: Field, path: str, errors: list[str]) -> bool:
    """Check one present value against ``field``; append an error line and return False when it fails."""
    if not _has_kind(value, field.kind):
        errors.append(f"{path}: expected {KINDS[field.kind]}, got {describe_value(value)}")
        return False
    if field.choices and value not in field.choices:
        errors.append(
            f"{path}: {value!r} is not allowed; allowed: {', '.join(map(str, field.choices))}"
        )
        return False
    problem = field.check(value) if field.check else None
    if problem:
        errors.append(f"{path}: {problem}")
        return False
    return True


def read(
    value: Any, fields: Mapping[str, Field], path: str, errors: list[str]
) -> dict[str, Any] | None:
    """Check that ``value`` is a mapping holding only ``fields``' keys, each valid.

    Returns the valid keys (numbers as float) with defaults filled in for
    absent optional ones; a key with an error is left out. Returns None when
    ``value`` is not a mapping at all.
    """
    if not _has_kind(value, "mapping"):
        errors.append(f"{path or 'file'}: expected {KINDS['mapping']}, got {describe_value(value)}")
        return None
    for key in value:
        if key not in fields:
            errors.append(f"{join(path, key)}: unknown key; allowed keys: {', '.join(fields)}")
    out = {}
    for key, field in fields.items():
        if key not in value:
            if field.required:
                allowed = (
                    f"allowed: {', '.join(map(str, field.choices))}"
                    if field.choices
                    else KINDS[field.kind]
                )
                errors.append(f"{join(path, key)}: missing (required; {allowed})")
            else:
                out[key] = copy.copy(field.default)  # a fresh {} or [] for each block
        elif check_value(value[key], field, join(path, key), errors):
            out[key] = float(value[key]) if field.kind == "number" else value[key]
    return out


# ------------------------------------------------------------------ checks


def at_least(low: float) -> Check:
    """A check that a number is >= ``low``."""
    return lambda v: None if v >= low else f"must be at least {low:g}, got {v!r}"


def positive(v: float) -> str | None:
    """A check that a number is > 0."""
    return None if v > 0 else f"must be greater than 0, got {v!r}"


def probability(v: float) -> str | None:
    """A check that a number lies in [0, 1]."""
    return None if 0 <= v <= 1 else f"must lie in [0, 1], got {v!r}"


def open_unit(v: float) -> str | None:
    """A check that a number lies strictly between 0 and 1 (an alpha or a power)."""
    return None if 0 < v < 1 else f"must lie strictly between 0 and 1, got {v!r}"


def text_list(v: list) -> str | None:
    """A check that a list holds only non-empty text."""
    bad = [i for i, item in enumerate(v) if not _has_kind(item, "text")]
    return (
        None
        if not bad
        else f"item {bad[0]} is {describe_value(v[bad[0]])}; every item must be text"
    )


# ------------------------------------------------------------------ YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_bytes(path: Path) -> bytes:
    """The bytes of the file ``path``; StudyError, in one line, when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise StudyError(f"{path}: cannot read it ({e.strerror or e})") from None


def load_yaml(data: bytes, source: str) -> Any:
    """The YAML document ``data`` parsed safely; StudyError, in one line naming ``source`` and where
    the problem is, when it is not valid YAML or gives a key twice in one mapping."""
    try:
        return yaml.load(data, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise StudyError(f"{source}: not valid YAML: {problem}{where}") from None
