"""Splitting a run's trials among processes, and gathering the shares back for the report.

A run split N ways has N shares. Share K (0 <= K < N) runs every condition on the items at
positions K, K + N, K + 2N, ... of the study's item order: a split made from K and N alone,
disjoint, covering the run, and with every condition in every share so that the shares cost
about the same. Under ``mlx.launch -n N``, ``mx.distributed.init()`` gives K (the rank) and N
(the size); ``--shard K/N`` gives the same split to processes a scheduler starts itself (a job
array). No collective operation runs, so a share that dies never stalls the others.

Share K's files in the run directory, written only by the process running it:

- ``trials.shard-K-of-N.jsonl``: its trial log (``trials``), appended while that process holds
  ``.shard-K-of-N.lock``;
- ``shard-K-of-N.json``: its sessions (started, trials already in its log, the sha256 and n of
  the plan it ran, i.e. the pre-registration or tuning file, git revision and package
  versions), rewritten atomically.

``gather`` checks the shares and merges them: the records into ``trials.jsonl`` in run order
(item, then condition order: the bytes an unsharded run writes) and the sessions into
``run.json``, so that a report reads a split run like any other. It refuses, in one line,
files of another split, shares that disagree (their latest sessions ran different code
revisions, or another plan or n than the run's) and a share log holding a trial of another
share (an overlap). The same holds for ``hebbian tune``, whose grid points are its conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hebbian.io.files import write_atomic
from hebbian.studies import rundir
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import parse_prereg_bytes
from hebbian.studies.trials import encode, read_trials

# How long a share waits for another process that holds the run's lock to prepare the run, or to gather
# the shares and write the report (which can take a while for a large study).
LOCK_WAIT_S = 600.0
FILE = re.compile(r"(?:trials\.)?shard-(\d+)-of-(\d+)\.jsonl?")


@dataclass(frozen=True)
class Shard:
    """Share ``k`` of a run split ``n`` ways."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def owns(self, index: int) -> bool:
        """Whether the item at position ``index`` of the item order belongs to this share."""
        return index % self.n == self.k

    @property
    def log(self) -> str:
        return f"trials.shard-{self.k}-of-{self.n}.jsonl"

    @property
    def sessions(self) -> str:
        return f"shard-{self.k}-of-{self.n}.json"

    @property
    def lock(self) -> str:
        return f".shard-{self.k}-of-{self.n}.lock"


def parse(text: str) -> Shard:
    """``K/N`` as a Shard; StudyError unless 0 <= K < N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not int(match[1]) < int(match[2]):
        raise StudyError(
            f"--shard must be K/N with 0 <= K < N (share K of N, counted from 0), got {text!r}"
        )
    return Shard(int(match[1]), int(match[2]))


def resolve(option: str | None) -> Shard | None:
    """This process's share: from ``--shard K/N``, or from its rank and size under ``mlx.launch``; None
    when the run is not split."""
    import mlx.core as mx

    group = mx.distributed.init()
    if option is not None and group.size() > 1:
        raise StudyError(
            f"--shard {option} given to {group.size()} processes started by mlx.launch, which "
            "split the run by rank already; give one or the other"
        )
    if option is not None:
        return parse(option)
    return Shard(group.rank(), group.size()) if group.size() > 1 else None


def record_session(path: Path, shard: Shard, session: dict[str, Any]) -> None:
    """Add ``session`` to share ``shard``'s sessions (call while holding its lock)."""
    file = path / shard.sessions
    sessions = json.loads(file.read_text())["sessions"] if file.exists() else []
    write_atomic(
        file, json.dumps({"shard": str(shard), "sessions": [*sessions, session]}, indent=2).encode()
    )


def _shares(path: Path, n: int) -> list[Shard]:
    """The shares with files in ``path``; StudyError for a file of another split."""
    shares = set()
    for file in path.iterdir():
        match = FILE.fullmatch(file.name)
        if match is None:
            continue
        if int(match[2]) != n or int(match[1]) >= n:
            raise StudyError(
                f"{file}: belongs to a {match[2]}-way split, but {path} is split {n} ways; "
                "move it out of the run directory"
            )
        shares.add(int(match[1]))
    return [Shard(k, n) for k in sorted(shares)]


def _check_agreement(
    path: Path, plan: str, run: dict[str, Any], latest: dict[Shard, dict[str, Any]]
) -> None:
    """Refuse shares whose latest sessions ran another plan or n than ``run``'s, or other code than each other."""

    def ran(s: dict[str, Any]) -> str:
        return f"{plan} sha256 {s['sha256'][:12]} with n {s['n']}"

    for shard, session in latest.items():
        if (session["sha256"], session["n"]) != (run["sha256"], run["n"]):
            raise StudyError(
                f"{path}: share {shard} last ran {ran(session)}, but the run's {plan} is "
                f"{run['sha256'][:12]} with n {run['n']}; rerun that share with the run's {plan}"
            )
    if len({s["git"] for s in latest.values()}) > 1:
        raise StudyError(
            f"{path}: the shares disagree: "
            + "; ".join(
                f"share {shard} ran {ran(s)} at git {s['git']}" for shard, s in latest.items()
            )
            + "; rerun every share at one revision"
        )


def gather(
    path: Path, conditions: Sequence[str], plan: str, run: dict[str, Any]
) -> tuple[int, int]:
    """Check the shares of the split run in ``path`` against each other and against ``run`` (the sha256
    and n of its ``plan``), and merge them into ``trials.jsonl`` and ``run.json`` (call while holding
    the run's lock); return (trials recorded, trials planned)."""
    meta = rundir.read_meta(path)
    n = meta["shards"]
    order = {name: i for i, name in enumerate(conditions)}
    latest, sessions, records = {}, [], []
    for shard in _shares(path, n):
        if (path / shard.log).exists() and not (path / shard.sessions).exists():
            raise StudyError(
                f"{path / shard.log}: has no {shard.sessions} beside it to say what ran it; "
                "copy both files of every share"
            )
        own = json.loads((path / shard.sessions).read_text())["sessions"]
        latest[shard] = own[-1]
        sessions += [{**s, "shard": str(shard)} for s in own]
        for record in read_trials(path / shard.log)[0]:
            if not shard.owns(record["index"]):
                raise StudyError(
                    f"{path / shard.log}: holds item {record['item']} (position {record['index']}), "
                    f"which is share {Shard(record['index'] % n, n)}'s: the shares overlap"
                )
            records.append(record)
    _check_agreement(path, plan, run, latest)
    # a condition dropped by a deviation sorts after the pre-registration's own
    records.sort(key=lambda r: (r["index"], order.get(r["condition"], len(order)), r["condition"]))
    write_atomic(path / rundir.TRIALS, b"".join(encode(r) for r in records))
    write_atomic(
        path / rundir.META,
        json.dumps(
            {**meta, "sessions": sorted(sessions, key=lambda s: s["started"])}, indent=2
        ).encode(),
    )
    return sum(r["index"] < run["n"] for r in records), run["n"] * len(conditions)


def gather_study(path: Path) -> tuple[int, int]:
    """``gather`` for a study run: its conditions, frozen pre-registration and target n."""
    meta = rundir.read_meta(path)
    prereg = parse_prereg_bytes((path / rundir.FROZEN).read_bytes(), meta["prereg_source"])
    return gather(
        path,
        [c.name for c in prereg.conditions],
        "prereg",
        {"sha256": meta["prereg_sha256"], "n": meta["target_n"]},
    )


def report(path: Path, out: Path | None = None, *, when_complete: bool = False) -> Path | None:
    """Gather the shares of the study run in ``path`` and write its report (``report.write_report``), under the
    run's lock; with ``when_complete``, only once every planned trial is recorded (None before)."""
    from hebbian.studies.report import write_report

    with rundir.locked(path, wait=LOCK_WAIT_S):
        recorded, planned = gather_study(path)
        return None if when_complete and recorded < planned else write_report(path, out)
