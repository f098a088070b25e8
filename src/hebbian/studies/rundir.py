"""A study's run directory: the frozen pre-registration, the run record, and the rules that guard them.

Layout of ``runs/<prereg id>/`` (``runs/<prereg id>-smoke/`` for a ``--limit``
smoke run):

- ``prereg.yaml`` and ``prereg.sha256``: the pre-registration exactly as run
  (byte for byte) and its hash;
- ``run.json``: identity (prereg id, smoke or not), planned and target n,
  seeds, deviations, and one session per invocation (git revision, package
  versions, trials already done); rewritten atomically;
- ``trials.jsonl``: the trial log (``trials``);
- ``.lock``: held while a study writes, so two cannot write at once.

A run split among processes (``shards``) records ``"shards": N`` in ``run.json``; there each
share has its own log and sessions, ``.lock`` is held only while a process prepares the run or
gathers the shares (so the first process to arrive freezes the pre-registration and writes
``run.json``, and the others find them as they need them and write nothing), and
``trials.jsonl`` and the sessions in ``run.json`` are the gathered copy the report reads.

Once trials exist, a pre-registration whose bytes differ from the frozen
copy is refused unless the run records a deviation (the reason, both hashes
and the diff); the old copy is kept as ``prereg.<hash prefix>.yaml``. A
smoke run claims nothing, so there an edit just sets the old trials aside
(``trials.<hash prefix>.jsonl``) and the smoke run starts again; not in a
split smoke run, whose other shares may be writing: there it is refused.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hebbian.io import provenance
from hebbian.io.files import write_atomic
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import Prereg, sha256
from hebbian.studies.trials import read_trials

META, FROZEN, HASH, TRIALS, LOCK = (
    "run.json",
    "prereg.yaml",
    "prereg.sha256",
    "trials.jsonl",
    ".lock",
)
SHARE_LOGS = "trials.shard-*-of-*.jsonl"  # the shares' logs: shards.Shard.log


@dataclass(frozen=True)
class Request:
    """What the user asked of ``hebbian study`` beyond the pre-registration."""

    smoke: bool
    target_n: int
    limit: int | None = None
    resume: bool = False
    deviation: str | None = None
    shards: int | None = None  # how many ways the run is split among processes; None: not split


def default_dir(prereg_id: str, smoke: bool) -> Path:
    return Path("runs") / (f"{prereg_id}-smoke" if smoke else prereg_id)


def read_meta(path: Path) -> dict[str, Any] | None:
    """The run record of ``path``, or None if it has none."""
    try:
        return json.loads((path / META).read_text())
    except FileNotFoundError:
        return None


def exploratory_page(path: Path, script: str, title: str, body: list[str]) -> str:
    """A markdown page of descriptions (no tests) about the trials in run directory `path`: the
    title, where the analyses were pre-registered and at which revisions the trials ran, `body`,
    and the page's own provenance."""
    meta = json.loads((path / META).read_text())
    revisions = ", ".join(sorted({f"`{s['git']}`" for s in meta["sessions"]}))
    source = (
        f"Pre-registered as exploratory in `prereg/{meta['prereg_source']}`: descriptions only, no tests. "
        f"Made by `{script}` from `{path}`, whose trials ran at {revisions}."
    )
    return "\n".join([f"# {title}", "", source, "", *body, "", provenance.markdown()]) + "\n"


def _logs(path: Path) -> list[Path]:
    """The run's own trial logs: its shares' when it is split, else ``trials.jsonl``."""
    return sorted(path.glob(SHARE_LOGS)) or [path / TRIALS]


def _has_trials(path: Path) -> bool:
    return any(log.exists() and log.stat().st_size > 0 for log in _logs(path))


@contextmanager
def locked(
    path: Path,
    name: str = LOCK,
    *,
    wait: float = 0.0,
    holder: str = "another `hebbian study` is writing to this run",
) -> Iterator[None]:
    """Hold the lock file ``path/name`` (creating the directory), waiting up to ``wait`` seconds for
    another process to let it go; StudyError, saying that ``holder``, if it does not."""
    path.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with open(path / name, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StudyError(f"{path}: {holder}; wait for it or stop it") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_new(path: Path, request: Request) -> None:
    """Refusals that need no lock: --resume of a run that does not exist."""
    if request.resume and not _has_trials(path):
        raise StudyError(
            f"{path}: nothing to resume (no trials recorded); run without --resume to start"
        )


def check_unused(path: Path, own: set[str]) -> None:
    """Refuse a directory without a run record that holds files besides ``own`` (the plan a run
    freezes before its record), temporary files and locks: it is not a run directory."""
    strangers = {
        p.name
        for p in path.iterdir()
        if not p.name.endswith(".tmp") and not (p.name.startswith(".") and p.name.endswith(".lock"))
    }
    if strangers - own:
        raise StudyError(f"{path}: exists and is not a study run directory; choose another --out")


def _check_identity(path: Path, meta: dict | None, prereg: Prereg, request: Request) -> None:
    if meta is None:
        check_unused(path, {FROZEN, HASH})
        return
    if "prereg_id" not in meta:  # a tuning run's record: hebbian tune
        raise StudyError(
            f"{path}: holds tuning {meta.get('id')!r}, not study {prereg.id!r}; choose another --out"
        )
    if meta["prereg_id"] != prereg.id:
        raise StudyError(
            f"{path}: holds study {meta['prereg_id']!r}, not {prereg.id!r}; choose another --out"
        )
    if meta["smoke"] != request.smoke:
        kind = "a smoke run (--limit)" if meta["smoke"] else "a full run"
        raise StudyError(
            f"{path}: holds {kind}; smoke and full runs need separate directories (--out)"
        )
    check_split(path, meta, request.shards)


def check_split(path: Path, meta: dict[str, Any], shards: int | None) -> None:
    """Refuse to run a run directory's trials split another way than they were (``shards``: N or None)."""

    def split(n: int | None) -> str:
        return f"split {n} ways" if n else "not split"

    if meta.get("shards") != shards:
        raise StudyError(
            f"{path}: holds a run {split(meta.get('shards'))}, and this one is {split(shards)}; "
            "run every share of a run with the same N (mlx.launch -n N or --shard K/N), or use another --out"
        )


def _deviations(path: Path, meta: dict | None, prereg: Prereg, request: Request) -> list[dict]:
    """The run's deviations, with this invocation's added; refuses an unrecorded edit once data exist."""
    deviations = list(meta.get("deviations", [])) if meta else []
    frozen = path / FROZEN
    old = frozen.read_bytes() if frozen.exists() else None
    changed = old is not None and sha256(old) != prereg.sha256 and _has_trials(path)
    # a smoke run claims nothing: set its trials aside
    if changed and request.smoke and not request.shards:
        os.replace(path / TRIALS, path / f"trials.{sha256(old)[:12]}.jsonl")
        changed = False
    if changed and not request.deviation:
        raise StudyError(
            [
                f"{prereg.source}: changed since trials were recorded in {path} "
                f"(sha256 {sha256(old)[:12]} frozen, {prereg.sha256[:12]} now)",
                'give --deviation "why" to record the change as a deviation, or use a new id or --out',
            ]
        )
    if changed:
        write_atomic(path / f"prereg.{sha256(old)[:12]}.yaml", old)
    if request.deviation and not any(
        d["reason"] == request.deviation and d["to_sha256"] == prereg.sha256 for d in deviations
    ):
        diff = (
            "".join(
                difflib.unified_diff(
                    old.decode(errors="replace").splitlines(keepends=True),
                    prereg.raw.decode(errors="replace").splitlines(keepends=True),
                    "prereg.yaml (frozen)",
                    f"{prereg.source} (now)",
                )
            )
            if changed
            else ""
        )
        deviations.append(
            {
                "reason": request.deviation,
                "at": _now(),
                "trials_before": _count_trials(path),
                "from_sha256": sha256(old) if old else prereg.sha256,
                "to_sha256": prereg.sha256,
                "diff": diff,
            }
        )
    return deviations


def _count_trials(path: Path) -> int:
    return sum(len(read_trials(log)[0]) for log in _logs(path))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def session(trials_before: int) -> dict[str, Any]:
    """A session's record: when it started, the trials already logged, git revision and package versions."""
    return {"started": _now(), "trials_before": trials_before, **provenance.snapshot()}


def write_if_changed(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step (``hebbian.io.files.write_atomic``) unless it holds them
    already."""
    if not path.exists() or path.read_bytes() != data:
        write_atomic(path, data)


def prepare(path: Path, prereg: Prereg, request: Request) -> dict[str, Any]:
    """Check ``path`` may take this run (call under ``locked``) and freeze the prereg; record the session in
    ``run.json`` unless the run is split (a share records its own: ``shards``)."""
    meta = read_meta(path)
    _check_identity(path, meta, prereg, request)
    deviations = _deviations(path, meta, prereg, request)
    sessions = [
        *(meta["sessions"] if meta else []),
        *([] if request.shards else [session(_count_trials(path))]),
    ]
    meta = {
        "prereg_id": prereg.id,
        "prereg_source": prereg.source,
        "prereg_sha256": prereg.sha256,
        "smoke": request.smoke,
        "limit": request.limit,
        "planned_n": prereg.planned_n,
        "target_n": request.target_n,
        "seeds": {"items": prereg.item_seed, "trials": prereg.trial_seed},
        "deviations": deviations,
        **({"shards": request.shards} if request.shards else {}),
        "sessions": sessions,
    }
    write_if_changed(path / META, json.dumps(meta, indent=2).encode())
    write_if_changed(path / FROZEN, prereg.raw)
    write_if_changed(path / HASH, f"{prereg.sha256}  {FROZEN}\n".encode())
    return meta
