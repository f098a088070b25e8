"""The append-only trial log of a run: one JSON line per trial, durable as soon as it is written.

Each record is written with a single ``write`` on a file opened for
appending, then flushed to disk with ``fsync``, so a trial is either fully
recorded or (after a crash in the middle of a write) leaves a torn last line.
Reading drops a torn last line: a line without its newline, or one that is
not a complete record. Anything wrong before the last line is corruption and
an error. ``TrialLog.open_for_append`` also cuts the torn line off the file
before appending, so the trial it held is simply run again.

A record is ``{"item", "index", "condition", "seed"}`` plus either
``"outcome"`` (metric -> value) or ``"excluded"`` (the reason). Keys are
sorted and nothing time-dependent is stored, so the same trial always
produces the same line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hebbian.io.files import fsync_folder
from hebbian.studies.errors import StudyError

KEYS = {"item", "index", "condition", "seed"}


def encode(record: dict[str, Any]) -> bytes:
    """One record as one line of JSON with sorted keys, newline included."""
    return (
        json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode()


def _decode(line: bytes) -> dict[str, Any] | None:
    """The record on ``line``, or None if it is not a complete one."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    complete = (
        isinstance(record, dict)
        and KEYS.issubset(record)
        and ("outcome" in record) != ("excluded" in record)
    )
    return record if complete else None


def read_trials(path: Path) -> tuple[list[dict[str, Any]], int]:
    """All complete records in the log, and the byte length of that intact part (a torn tail lies beyond it).

    Raises StudyError for a damaged line before the last one, or a trial
    recorded twice.
    """
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last element is b"" when the file ends with a newline
    records, seen, good = [], set(), 0
    for number, line in enumerate(lines[:-1], start=1):
        record = _decode(line)
        if record is None:
            if number == len(lines) - 1 and not lines[-1]:
                break  # a damaged final line: torn, dropped
            raise StudyError(
                f"{path}: line {number} is not a complete trial record; the log is damaged"
            )
        key = (record["item"], record["condition"])
        if key in seen:
            raise StudyError(
                f"{path}: line {number} records item {key[0]} under {key[1]} a second time"
            )
        seen.add(key)
        records.append(record)
        good += len(line) + 1
    return records, good


class TrialLog:
    """Appends records to a run's trial log, each flushed and fsynced before ``append`` returns."""

    def __init__(self, fd: int):
        self._fd = fd

    @classmethod
    def open_for_append(cls, path: Path) -> tuple[TrialLog, list[dict[str, Any]]]:
        """Open the log after cutting off any torn last line; return it and the records already there."""
        records, good = read_trials(path)
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(fd).st_size > good:
            os.ftruncate(fd, good)
        os.fsync(fd)
        if not existed:
            fsync_folder(path.parent)
        return cls(fd), records

    def append(self, record: dict[str, Any]) -> None:
        data = memoryview(encode(record))
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> TrialLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
