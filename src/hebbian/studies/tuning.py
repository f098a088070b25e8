"""Tuning a study's treatments on a split of items the confirmatory run never sees.

A tuning file (see prereg/tuning/recall.yaml) names a pre-registration, a tuning split (its own
item seed, and task parameters that may differ, e.g. another book), an outcome with the
direction that is better, and a grid of knob values for some of the study's conditions. Every
grid point (the condition's config with the point's values) and the reference condition run on
every tuning item; the report gives each point's mean and its paired difference from the
reference, and picks, per condition, the point with the best mean (ties: the first in grid
order). The pick is a suggestion: the pre-registration changes only when a person writes the
chosen values into it as a new version, before any confirmatory trial.

A guard keeps the pick from trading fluency for the outcome (issue 20: the recall tuning picked
slots at strength 100 on the answer's log-probability alone, and at that strength the replies
are broken). ``guard: {outcome: degenerate, margin: 0.0}`` names a binary outcome of the task
that is bad when true and a margin: a grid point whose rate of it on the tuning items (those
every point finished) exceeds the reference's rate by more than the margin is never picked, and
the report says which points the guard excluded and why. A task that records ``degenerate``
(every task that generates a reply) is guarded on it with margin 0 unless the file says
otherwise: "a pick that degenerates more than the window is not a pick". There is no switch to
turn it off; ``margin: 1`` never excludes anything, and the report prints it. A condition whose
every point is excluded has no pick.

The trials run through the study's runner (``runner.run``), the grid points taking the place of
the conditions and the tuning file that of the pre-registration: one fsynced JSON line per trial
in ``runs/<id>/trials.jsonl``, a rerun skipping what is logged; an item the task drops under an
exclusion rule is logged as excluded and leaves every point's comparison, as in a study. It
splits among processes as a study does (``shards``: under ``mlx.launch``, or ``--shard K/N``);
the last share to finish gathers the shares and writes the report (rerunning any finished share
does it again). The run directory holds the tuning file as last run (``tuning.yaml``), the trial
log and ``run.json`` (the tuning id, the split, the sessions), rewritten atomically; it is
refused for another tuning run or a study's. What is specific to tuning is here: the tuning file,
its grid, the guard, the pick and the report.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hebbian import stats
from hebbian.io import markdown, provenance
from hebbian.io.files import write_atomic
from hebbian.studies import rundir, runner, shards
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import Prereg, PreregError, load_prereg, sha256
from hebbian.studies.schema import Field, at_least, load_yaml, probability, read, read_bytes
from hebbian.studies.tasks import Task, get_task
from hebbian.studies.trials import read_trials

SPEC = "tuning.yaml"  # the tuning file as last run, in the run directory

FIELDS = {
    "id": Field("text"),
    "study": Field("text"),  # the pre-registration, relative to this file
    "items": Field("integer", check=at_least(2)),
    "seed": Field("integer"),
    # task parameters overridden for the split
    "task": Field("mapping", required=False, default={}),
    "outcome": Field("text"),
    "goal": Field("text", choices=("max", "min")),
    "reference": Field("text"),
    "grid": Field("mapping"),
    # see GUARD_FIELDS; default: DEFAULT_GUARD if the task records it
    "guard": Field("mapping", required=False),
}
GUARD_FIELDS = {
    "outcome": Field("text"),  # a binary outcome of the task, bad when true
    # excess allowed over the reference
    "margin": Field("number", required=False, default=0.0, check=probability),
}
DEFAULT_GUARD = "degenerate"  # the outcome a task that generates records (hebbian.studies.fluency)


@dataclass(frozen=True)
class Guard:
    """A point whose rate of ``outcome`` exceeds the reference's by more than ``margin`` is never picked."""

    outcome: str
    margin: float
    default: bool  # set by the task's outcomes, not written in the tuning file


@dataclass(frozen=True)
class Point:
    """One configuration tried: a condition of the study with some knobs set."""

    condition: str
    knobs: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.condition + "".join(f" {k}={v}" for k, v in self.knobs.items())


@dataclass(frozen=True)
class TuningSpec:
    id: str
    study: Prereg
    items: int
    seed: int
    task: Mapping[str, Any]
    outcome: str
    goal: str
    reference: str
    grid: Mapping[str, Mapping[str, list]]
    guard: Guard | None
    raw: bytes

    def points(self) -> list[Point]:
        """The reference, then each condition's grid in file order (the product of its knobs' values)."""
        out = [Point(self.reference, {}, self.study.condition(self.reference).config)]
        for condition, knobs in self.grid.items():
            base = self.study.condition(condition).config
            for values in itertools.product(*knobs.values()):
                chosen = dict(zip(knobs, values))
                out.append(Point(condition, chosen, {**base, **chosen}))
        return out

    def make_task(self) -> Task:
        """The study's task on the tuning split: its own item seed, the split's task parameters."""
        return get_task(self.study.task)({**self.study.task_params, **self.task}, self.seed)


def load_spec(path: str | Path) -> TuningSpec:
    """Read and check a tuning file; StudyError lists every problem, one line each."""
    path = Path(path)
    raw = read_bytes(path)
    data = load_yaml(raw, str(path))
    errors: list[str] = []
    spec = read(data, FIELDS, "", errors)
    if spec is None or errors:
        raise StudyError(errors)
    try:
        study = load_prereg(path.parent / spec["study"])
    except PreregError as e:
        raise StudyError([f"study: {spec['study']}: cannot be loaded", *e.lines]) from None
    names = [c.name for c in study.conditions]
    metrics = study.make_task().metrics
    if spec["outcome"] not in metrics or metrics[spec["outcome"]] != "continuous":
        errors.append(
            f"outcome: {spec['outcome']!r} is not a continuous outcome of task {study.task}; "
            f"allowed: {', '.join(m for m, t in metrics.items() if t == 'continuous')}"
        )
    guard = _read_guard(spec.get("guard"), metrics, study.task, errors)
    if spec["reference"] not in names:
        errors.append(
            f"reference: {spec['reference']!r} is not a condition of {spec['study']}; allowed: {', '.join(names)}"
        )
    for condition, knobs in spec["grid"].items():
        where = f"grid.{condition}"
        if condition not in names:
            errors.append(
                f"{where}: not a condition of {spec['study']}; allowed: {', '.join(names)}"
            )
        if not isinstance(knobs, dict) or not knobs:
            errors.append(f"{where}: expected a mapping of knob: [values]")
            continue
        errors += [
            f"{where}.{knob}: expected a non-empty list of values"
            for knob, values in knobs.items()
            if not isinstance(values, list) or not values
        ]
    if errors:
        raise StudyError(errors)
    return TuningSpec(
        spec["id"],
        study,
        spec["items"],
        spec["seed"],
        spec["task"],
        spec["outcome"],
        spec["goal"],
        spec["reference"],
        spec["grid"],
        guard,
        raw,
    )


def _read_guard(
    value: Any, metrics: Mapping[str, str], task: str, errors: list[str]
) -> Guard | None:
    """The tuning file's guard, the default one when it has none and the task records DEFAULT_GUARD, or None."""
    if value is None:
        return Guard(DEFAULT_GUARD, 0.0, True) if metrics.get(DEFAULT_GUARD) == "binary" else None
    guard = read(value, GUARD_FIELDS, "guard", errors)
    if guard is None or "outcome" not in guard:
        return None
    if metrics.get(guard["outcome"]) != "binary":
        errors.append(
            f"guard.outcome: {guard['outcome']!r} is not a binary outcome of task {task}; "
            f"allowed: {', '.join(m for m, t in metrics.items() if t == 'binary') or 'none'}"
        )
        return None
    return Guard(guard["outcome"], guard.get("margin", 0.0), False)


def run_tuning(
    spec_path: str | Path,
    out: Path | None = None,
    shard: shards.Shard | None = None,
) -> Path:
    """Run (or continue) every grid point on every tuning item, or on ``shard``'s items, through the
    study's runner (``runner.run``: the grid points are the conditions); return the run directory."""
    spec = load_spec(spec_path)
    path = Path(out) if out is not None else rundir.default_dir(spec.id, smoke=False)
    task, points = spec.make_task(), spec.points()
    problems: list[str] = []
    for p in points:  # a bad knob fails here, before any trial
        if task.config is not None:
            read(p.config, task.config, f"grid point {p.name!r}", problems)
        problem = task.check_config(p.config)
        problems += [f"grid point {p.name!r}: {problem}"] if problem else []
    if problems:
        raise StudyError(problems)
    design = runner.Design(
        spec.id,
        task,
        {p.name: p.config for p in points},  # a point's name is its "condition" in the log
        spec.items,
        spec.seed,
        sha256(spec.raw),
    )
    return runner.run(design, path, lambda split: _prepare(path, spec, split), shard)


def _prepare(path: Path, spec: TuningSpec, split: int | None) -> None:
    """Check the run directory may take this tuning run and its split, keep the tuning file as run, and
    write the run's record: for a run that is not split, with this session added (call under the run's
    lock)."""
    meta = rundir.read_meta(path)
    if meta is None:
        rundir.check_unused(path, {SPEC})
    elif meta.get("id") != spec.id:
        held = (
            f"study {meta['prereg_id']!r}" if "prereg_id" in meta else f"tuning {meta.get('id')!r}"
        )
        raise StudyError(f"{path}: holds {held}, not tuning {spec.id!r}; choose another --out")
    meta = meta or {"id": spec.id, **({"shards": split} if split else {}), "sessions": []}
    rundir.check_split(path, meta, split)
    rundir.write_if_changed(path / SPEC, spec.raw)
    if not split:
        session = rundir.session(len(read_trials(path / rundir.TRIALS)[0]))
        meta = {**meta, "sessions": [*meta["sessions"], session]}
    rundir.write_if_changed(path / rundir.META, json.dumps(meta, indent=2).encode())


def report_shares(spec: TuningSpec, run_dir: Path, out: str | Path | None = None) -> Path | None:
    """Under the run's lock, gather the shares of the split tuning run in ``run_dir`` and, once every trial
    is recorded, write its report (``write_tuning_report``); None before."""
    with rundir.locked(run_dir, wait=shards.LOCK_WAIT_S):
        recorded, planned = shards.gather(
            run_dir,
            [p.name for p in spec.points()],
            "tuning file",
            {"sha256": sha256((run_dir / SPEC).read_bytes()), "n": spec.items},
        )
        return write_tuning_report(spec, run_dir, out) if recorded == planned else None


@dataclass(frozen=True)
class PointResult:
    point: Point
    n: int
    mean: float
    # paired mean difference from the reference, with a bootstrap CI
    difference: stats.EffectSize | None
    # how many of the n items had the guard's outcome true; None without a guard
    guarded: int | None = None
    excluded: str | None = None  # why the guard excluded the point from the pick, or None


def analyse(
    spec: TuningSpec, records: list[dict]
) -> tuple[list[PointResult], dict[str, Point | None]]:
    """Each point's result on the items every point has finished, and each condition's pick (None when
    the guard excluded every point of it)."""
    points = spec.points()
    by = {(r["item"], r["condition"]): r["outcome"] for r in records if "outcome" in r}
    dropped = excluded_items(records)
    items = sorted(
        {
            r["item"]
            for r in records
            if r["item"] not in dropped and all((r["item"], p.name) in by for p in points)
        }
    )
    if not items:
        raise StudyError("no tuning item has finished under every grid point yet")
    guard = spec.guard
    if guard is not None:
        missing = sum(guard.outcome not in by[i, p.name] for i in items for p in points)
        if missing:
            raise StudyError(
                f"guard: {missing} trials of this run do not record {guard.outcome!r} (logged before "
                f"task {spec.study.task} recorded it); run the tuning again in a new directory"
            )
    values = {p.name: np.array([by[i, p.name][spec.outcome] for i in items]) for p in points}
    bad = (
        {p.name: sum(bool(by[i, p.name][guard.outcome]) for i in items) for p in points}
        if guard
        else {}
    )
    reference = values[spec.reference]
    results = [
        PointResult(
            p,
            len(items),
            float(values[p.name].mean()),
            None
            if p.condition == spec.reference or len(items) < 3
            else stats.bootstrap_paired_diff_ci(values[p.name], reference),
            bad.get(p.name),
            _excluded(spec, bad, p, len(items)),
        )
        for p in points
    ]
    sign = 1 if spec.goal == "max" else -1
    picks: dict[str, Point | None] = {}
    for condition in spec.grid:
        candidates = [r for r in results if r.point.condition == condition and r.excluded is None]
        # first of ties
        picks[condition] = (
            max(candidates, key=lambda r: sign * r.mean).point if candidates else None
        )
    return results, picks


def excluded_items(records: list[dict]) -> dict[str, str]:
    """The items the task dropped under an exclusion rule (under any point), with the first reason given:
    as in a study, such an item leaves every comparison."""
    out: dict[str, str] = {}
    for r in records:
        if "excluded" in r:
            out.setdefault(r["item"], r["excluded"])
    return out


def _excluded(spec: TuningSpec, bad: Mapping[str, int], point: Point, n: int) -> str | None:
    """Why the guard excludes ``point`` from the pick (its rate is above the reference's plus the margin), or
    None."""
    if spec.guard is None or (point.condition == spec.reference and not point.knobs):
        return None
    mine, theirs, margin = bad[point.name], bad[spec.reference], spec.guard.margin
    # the tolerance keeps an exact tie at the margin inside it
    if mine / n <= theirs / n + margin + 1e-12:
        return None
    plus = f" + margin {margin:g}" if margin else ""
    return f"{spec.guard.outcome} {mine}/{n} > {spec.reference} {theirs}/{n}{plus}"


def write_tuning_report(
    spec: TuningSpec, run_dir: str | Path, out: str | Path | None = None
) -> Path:
    """The tuning report of `spec`'s run in `run_dir` (markdown, with a figure beside it)."""
    from hebbian import plots

    run_dir = Path(run_dir)
    records, _ = read_trials(run_dir / rundir.TRIALS)
    results, picks = analyse(spec, records)
    out = Path(out) if out is not None else run_dir / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = _figure(spec, results, out.with_name(f"{out.stem}_points.png"), plots)
    better = "higher" if spec.goal == "max" else "lower"
    n = results[0].n
    lines = [
        f"# Tuning: {spec.id}",
        "",
        f"Tuning split for `{spec.study.source}` (pre-registration `{spec.study.id}` version {spec.study.version}): "
        f"{n} of {spec.items} planned items finished under every point, item seed {spec.seed}"
        + (
            f", task parameters changed for the split: `{json.dumps(dict(spec.task))}`"
            if spec.task
            else ""
        )
        + f". The outcome is `{spec.outcome}` ({better} is better); each point's paired difference from "
        f"`{spec.reference}` has a 95% bootstrap (BCa) interval. The pick per condition is the best mean "
        "(the first in grid order on a tie)"
        + (
            "."
            if spec.guard is None
            else " among the points the guard keeps. " + _guard_sentence(spec)
        )
        + " These items never enter the confirmatory run."
        + _exclusion_sentence(excluded_items(records)),
        "",
    ]
    guarded = spec.guard is not None
    head = (
        ["point", "n", f"mean {spec.outcome}", f"difference from {spec.reference} [95% CI]"]
        + ([spec.guard.outcome, "guard"] if guarded else [])
        + ["pick"]
    )
    rows = []
    for r in results:
        diff = (
            ""
            if r.difference is None
            else f"{r.difference.value:+.3f} [{r.difference.ci_low:+.3f}, {r.difference.ci_high:+.3f}]"
        )
        pick = "**pick**" if picks.get(r.point.condition) == r.point else ""
        guard = (
            [f"{r.guarded}/{r.n}", f"excluded: {r.excluded}" if r.excluded else ""]
            if guarded
            else []
        )
        rows.append([f"`{r.point.name}`", str(r.n), f"{r.mean:.3f}", diff, *guard, pick])
    lines.append(markdown.table(head, rows))
    excluded = [r for r in results if r.excluded]
    if guarded:
        lines += [
            "",
            f"The guard excluded {len(excluded)} of {len(results) - 1} grid points"
            + (
                ": " + "; ".join(f"`{r.point.name}` ({r.excluded})" for r in excluded)
                if excluded
                else ""
            )
            + ".",
        ]
        lines += [
            line
            for c, p in picks.items()
            if p is None
            for line in ("", f"No pick for `{c}`: the guard excluded every point of it.")
        ]
    lines += ["", f"![points]({figure.name})", "", "Picks, as condition configs:", "", "```yaml"]
    lines += [
        f"{c}: " + (json.dumps(dict(p.config)) if p else "null  # no point passed the guard")
        for c, p in picks.items()
    ]
    lines += ["```", "", "## Runs", ""]
    sessions = json.loads((run_dir / rundir.META).read_text())["sessions"]
    lines += [
        f"- {s['started']}: {s['trials_before']} trials already logged"
        + (f" in share {s['shard']}" if "shard" in s else "")
        + f"; git `{s['git']}`"
        for s in sessions
    ]
    lines += ["", provenance.markdown(), ""]
    return write_atomic(out, "\n".join(lines))


def _exclusion_sentence(dropped: Mapping[str, str]) -> str:
    """The report's statement of the items the task excluded (nothing when it excluded none)."""
    if not dropped:
        return ""
    reasons = sorted(set(dropped.values()))
    return (
        f" The task excluded {len(dropped)} item{'s' if len(dropped) > 1 else ''} under its exclusion "
        f"rule{'s' if len(reasons) > 1 else ''} ({'; '.join(reasons)}); they leave every comparison."
    )


def _guard_sentence(spec: TuningSpec) -> str:
    """The report's statement of the guard."""
    g = spec.guard
    where = "by default, as the task records it" if g.default else "as the tuning file sets it"
    margin = f" by more than {g.margin:g} (a share of the items)" if g.margin else ""
    return (
        f"The guard ({where}): a point whose `{g.outcome}` rate on these items exceeds "
        f"`{spec.reference}`'s{margin} is never picked."
    )


def _figure(spec: TuningSpec, results: list[PointResult], path: Path, plots) -> Path:
    """Each grid point's difference from the reference with its interval; points the guard excluded in grey."""
    shown = [r for r in results if r.difference is not None]
    fig, ax = plots.figure(figsize=(7, 0.35 * len(shown) + 1.2))
    y = np.arange(len(shown))[::-1]
    for kept in (True, False):
        at = [i for i, r in enumerate(shown) if (r.excluded is None) == kept]
        if not at:
            continue
        est = np.array([shown[i].difference.value for i in at])
        err = np.array(
            [
                [
                    shown[i].difference.value - shown[i].difference.ci_low,
                    shown[i].difference.ci_high - shown[i].difference.value,
                ]
                for i in at
            ]
        ).T
        ax.errorbar(
            est,
            y[at],
            xerr=err,
            fmt="o" if kept else "x",
            capsize=3,
            color=None if kept else "grey",
            label=None if kept else f"excluded by the guard ({spec.guard.outcome})",
        )
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y, [r.point.name for r in shown], fontsize=8)
    ax.set_xlabel(f"{spec.outcome}: difference from {spec.reference} (95% CI)")
    if any(r.excluded for r in shown):
        ax.legend(fontsize=8)
    return plots.save(fig, path)
