"""Running a pre-registered study: every condition on every item, one durable log line per trial.

``run_study`` validates the pre-registration, works out n, prepares the run
directory (``rundir``), then runs the trials not yet in the log, in item
order and, within an item, in the pre-registration's condition order, with
a progress bar. A rerun of the same pre-registration (or ``--resume``)
continues where the last one stopped, even after kill -9: trials already
logged are skipped, a torn last line is dropped and its trial run again.
Each (item, condition) has its own seed, derived from the pre-registered
trial seed, so a trial run twice gives the same record. ``hebbian study``
then writes the report (``report``).

Given a ``shards.Shard``, the process runs only that share of the items,
into the share's own log, and resumes it alone; the run is prepared under
the run directory's lock, held only for that (``rundir``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from hebbian.studies import rundir, shards
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import Prereg, load_prereg
from hebbian.studies.tasks import Item, Task, TrialExcluded
from hebbian.studies.trials import TrialLog, read_trials


def trial_seed(base: int, item_id: str, condition: str) -> int:
    """The seed of one (item, condition) trial: 63 bits of sha256 over the trial seed and both names."""
    digest = hashlib.sha256(f"{base}\0{item_id}\0{condition}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def checked_outcome(task: Task, outcome: Mapping[str, Any]) -> dict[str, bool | float | str]:
    """The task's outcome as plain JSON values; a task breaking its declared metrics is a bug, not data."""
    if set(outcome) != set(task.metrics):
        raise TypeError(
            f"task {task.name} returned metrics {sorted(outcome)}, declared {sorted(task.metrics)}"
        )
    checked = {}
    for name, kind in task.metrics.items():
        value = outcome[name]
        if kind == "binary" and value not in (True, False):
            raise TypeError(
                f"task {task.name}: binary metric {name} must be True or False, got {value!r}"
            )
        if kind == "continuous" and not math.isfinite(value):
            raise TypeError(
                f"task {task.name}: continuous metric {name} must be finite, got {value!r}"
            )
        if kind == "text" and not isinstance(value, str):
            raise TypeError(f"task {task.name}: text {name} must be a string, got {value!r}")
        checked[name] = {"binary": bool, "continuous": float, "text": str}[kind](value)
    return checked


def run_trial(prereg: Prereg, task: Task, item: Item, condition: str) -> dict[str, Any]:
    """Run one trial and return its log record."""
    seed = trial_seed(prereg.trial_seed, item.id, condition)
    record = {"item": item.id, "index": item.index, "condition": condition, "seed": seed}
    try:
        outcome = task.run_trial(item, prereg.condition(condition).config, seed)
    except TrialExcluded as e:
        return {**record, "excluded": str(e) or "excluded by the task"}
    return {**record, "outcome": checked_outcome(task, outcome)}


def pending(
    prereg: Prereg, items: Iterable[Item], done: set[tuple[str, str]]
) -> Iterator[tuple[Item, str]]:
    """The (item, condition) trials not yet in ``done``, in run order."""
    for item in items:
        for condition in prereg.conditions:
            if (item.id, condition.name) not in done:
                yield item, condition.name


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def run_study(
    prereg_path: str | Path,
    *,
    limit: int | None = None,
    resume: bool = False,
    out: Path | None = None,
    deviation: str | None = None,
    shard: shards.Shard | None = None,
    console: Console | None = None,
) -> Path:
    """Run (or continue) the study ``prereg_path`` pre-registers, or only ``shard`` of it; return its run
    directory.

    Raises StudyError (PreregError for an invalid file) before writing
    anything when the study cannot run as asked.
    """
    console = console or Console(stderr=True, soft_wrap=True)
    prereg = load_prereg(prereg_path)
    for warning in prereg.warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), warning))
    if limit is not None and limit < 1:
        raise StudyError(f"--limit must be at least 1, got {limit}")
    smoke = limit is not None
    request = rundir.Request(
        smoke,
        min(limit, prereg.planned_n) if smoke else prereg.planned_n,
        limit,
        resume,
        deviation,
        shard.n if shard else None,
    )
    path = Path(out) if out is not None else rundir.default_dir(prereg.id, smoke)
    rundir.check_new(path, request)
    task = prereg.make_task()
    label = f"{prereg.id}{' (smoke)' if smoke else ''}"
    if shard is None:
        with rundir.locked(path):
            rundir.prepare(path, prereg, request)
            _run(prereg, task, task.items(request.target_n), path / rundir.TRIALS, label, console)
        return path
    with rundir.locked(
        path, shard.lock, holder=f"another process is running share {shard} of this run"
    ):
        with rundir.locked(path, wait=shards.LOCK_WAIT_S):
            rundir.prepare(path, prereg, request)
        log = path / shard.log
        shards.record_session(
            path,
            shard,
            {
                **rundir.session(len(read_trials(log)[0])),
                "sha256": prereg.sha256,
                "n": request.target_n,
            },
        )
        items = [item for item in task.items(request.target_n) if shard.owns(item.index)]
        _run(prereg, task, items, log, f"{label} share {shard}", console)
    return path


def _run(
    prereg: Prereg, task: Task, items: list[Item], log_path: Path, label: str, console: Console
) -> None:
    """Run every condition on ``items`` that ``log_path`` does not record yet, appending each trial to it."""
    log, records = TrialLog.open_for_append(log_path)
    with log:
        todo = list(pending(prereg, items, {(r["item"], r["condition"]) for r in records}))
        total = len(items) * len(prereg.conditions)
        console.print(
            f"{label}: {len(items)} items x {len(prereg.conditions)} conditions; "
            f"{total - len(todo)} of {total} trials already recorded in {log_path.parent}",
            highlight=False,
            markup=False,
        )
        with progress_bar(console) as bar:
            progress = bar.add_task(label, total=total, completed=total - len(todo))
            for item, condition in todo:
                log.append(run_trial(prereg, task, item, condition))
                bar.advance(progress)
