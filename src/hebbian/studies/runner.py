"""Running a study: every condition on every item, one durable log line per trial.

``run`` runs a ``Design`` (a task, its conditions by name with their configs, how many items,
the trial seed) in a run directory: the trials not yet in the log, in item order and, within an
item, in the conditions' order, with a progress bar. A rerun (or ``--resume``) continues where
the last one stopped, even after kill -9: trials already logged are skipped, a torn last line is
dropped and its trial run again. Each (item, condition) has its own seed, derived from the trial
seed, so a trial run twice gives the same record; a trial the task drops under an exclusion rule
(``TrialExcluded``) is logged with its reason. Both commands run here: ``run_study`` for
``hebbian study`` (the pre-registration's conditions; the run directory prepared by ``rundir``,
then ``hebbian study`` writes the report, ``report``) and ``tuning.run_tuning`` for
``hebbian tune`` (the grid points are its conditions).

Given a ``shards.Shard``, the process runs only that share of the items,
into the share's own log, and resumes it alone; the run is prepared under
the run directory's lock, held only for that (``rundir``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hebbian.io import console as io
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


def trial(
    task: Task, item: Item, condition: str, config: Mapping[str, Any], base_seed: int
) -> dict:
    """Run one trial of ``item`` under ``condition`` (whose config is ``config``) and return its log
    record: the outcome, or the reason a pre-registered exclusion rule dropped the item."""
    seed = trial_seed(base_seed, item.id, condition)
    record = {"item": item.id, "index": item.index, "condition": condition, "seed": seed}
    try:
        outcome = task.run_trial(item, config, seed)
    except TrialExcluded as e:
        return {**record, "excluded": str(e) or "excluded by the task"}
    return {**record, "outcome": checked_outcome(task, outcome)}


def run_trial(prereg: Prereg, task: Task, item: Item, condition: str) -> dict[str, Any]:
    """Run one trial of a study and return its log record."""
    return trial(task, item, condition, prereg.condition(condition).config, prereg.trial_seed)


def _pending(
    conditions: Iterable[str], items: Iterable[Item], done: set[tuple[str, str]]
) -> Iterator[tuple[Item, str]]:
    conditions = list(conditions)
    for item in items:
        for condition in conditions:
            if (item.id, condition) not in done:
                yield item, condition


def pending(
    prereg: Prereg, items: Iterable[Item], done: set[tuple[str, str]]
) -> Iterator[tuple[Item, str]]:
    """The (item, condition) trials of a study not yet in ``done``, in run order."""
    return _pending((c.name for c in prereg.conditions), items, done)


@dataclass(frozen=True)
class Design:
    """What a run runs: every condition on each of the task's first ``n`` items, in item order and,
    within an item, in the conditions' order; each trial seeded from ``seed``. ``sha256`` is the hash
    of the file the design comes from (the pre-registration or the tuning file), which each share of
    a split run records with its sessions."""

    label: str
    task: Task
    conditions: Mapping[str, Mapping[str, Any]]  # name -> config, in run order
    n: int
    seed: int
    sha256: str


# Checks that the run directory may take the run and records it: called under the run's lock with
# the number of ways the run is split (None: not split), it freezes the plan, writes run.json and,
# for a run that is not split, adds this session to it (a share records its own: ``shards``).
Prepare = Callable[[int | None], object]


def run(
    design: Design,
    path: Path,
    prepare: Prepare,
    shard: shards.Shard | None = None,
) -> Path:
    """Run (or continue) ``design`` in the run directory ``path``, or only ``shard``'s share of its
    items, into that share's own log; return ``path``. The study and the tuning runs both run here."""
    if shard is None:
        with rundir.locked(path):
            prepare(None)
            items = design.task.items(design.n)
            _run(design, items, path / rundir.TRIALS, design.label)
        return path
    with rundir.locked(
        path, shard.lock, holder=f"another process is running share {shard} of this run"
    ):
        with rundir.locked(path, wait=shards.LOCK_WAIT_S):
            prepare(shard.n)
        log = path / shard.log
        shards.record_session(
            path,
            shard,
            {
                **rundir.session(len(read_trials(log)[0])),
                "sha256": design.sha256,
                "n": design.n,
            },
        )
        items = [item for item in design.task.items(design.n) if shard.owns(item.index)]
        _run(design, items, log, f"{design.label} share {shard}")
    return path


def run_study(
    prereg_path: str | Path,
    *,
    limit: int | None = None,
    resume: bool = False,
    out: Path | None = None,
    deviation: str | None = None,
    shard: shards.Shard | None = None,
) -> Path:
    """Run (or continue) the study ``prereg_path`` pre-registers, or only ``shard`` of it; return its run
    directory.

    Raises StudyError (PreregError for an invalid file) before writing
    anything when the study cannot run as asked.
    """
    prereg = load_prereg(prereg_path)
    for warning in prereg.warnings:
        io.warn(warning)
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
    design = Design(
        f"{prereg.id}{' (smoke)' if smoke else ''}",
        prereg.make_task(),
        {c.name: c.config for c in prereg.conditions},
        request.target_n,
        prereg.trial_seed,
        prereg.sha256,
    )
    return run(design, path, lambda _: rundir.prepare(path, prereg, request), shard)


def _run(design: Design, items: list[Item], log_path: Path, label: str) -> None:
    """Run every condition on ``items`` that ``log_path`` does not record yet, appending each trial to it."""
    log, records = TrialLog.open_for_append(log_path)
    with log:
        done = {(r["item"], r["condition"]) for r in records}
        todo = list(_pending(design.conditions, items, done))
        total = len(items) * len(design.conditions)
        io.err.print(
            f"{label}: {len(items)} items x {len(design.conditions)} conditions; "
            f"{total - len(todo)} of {total} trials already recorded in {log_path.parent}",
            highlight=False,
            markup=False,
        )
        with io.progress_bar() as bar:
            progress = bar.add_task(label, total=total, completed=total - len(todo))
            for item, condition in todo:
                config = design.conditions[condition]
                log.append(trial(design.task, item, condition, config, design.seed))
                bar.advance(progress)
