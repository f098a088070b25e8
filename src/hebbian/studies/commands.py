"""The study commands, as plain typer command functions for the main app to register.

``hebbian study`` runs (or resumes) a pre-registered study, or one share of it
(under ``mlx.launch``, or with ``--shard K/N``: ``shards``), ``hebbian report``
rewrites a run's report, ``hebbian power`` plans a sample size. A user error
ends as one line per problem on stderr and exit code 2, never a traceback.
Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from hebbian.io import console as io


def study(
    prereg: Path = typer.Argument(
        ..., help="The pre-registration YAML (see prereg/synthetic.yaml)."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        help="Smoke run on the first N items, in its own run directory; "
        "its report claims no result.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run (error if it has no trials). "
        "A plain rerun continues too.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run directory (default: runs/<id>, or runs/<id>-smoke with --limit)."
    ),
    deviation: str | None = typer.Option(
        None,
        "--deviation",
        help="Record why the run departs from its pre-registration (needed to "
        "run an edited prereg once trials exist).",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="K/N",
        help="Run only share K (0 to N-1) of the trials split N ways, for processes "
        "a scheduler starts (a job array); under mlx.launch the rank and "
        "size give the share. The last share to finish writes the report.",
    ),
) -> None:
    """Run a pre-registered study: every condition on every item, resumable; then write its report."""
    from hebbian.studies import shards
    from hebbian.studies.errors import StudyError
    from hebbian.studies.report import write_report
    from hebbian.studies.runner import run_study

    try:
        share = shards.resolve(shard)
        run = run_study(
            prereg, limit=limit, resume=resume, out=out, deviation=deviation, shard=share
        )
        path = write_report(run) if share is None else shards.report(run, when_complete=True)
    except StudyError as e:
        io.fail(*e.lines)
    except KeyboardInterrupt:
        io.fail(
            "interrupted; every finished trial is saved: rerun the same command to resume", code=130
        )
    if path is None:
        io.err.print(
            f"share {share} is finished; the last share to finish writes the report "
            f"(or `hebbian report {run}` once every share has)",
            highlight=False,
        )
        return
    io.out.print(f"report: {path}", highlight=False)


def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `hebbian study`."),
    out: Path | None = typer.Option(
        None, "--out", help="Markdown file (default: RUN_DIR/report.md); figures go beside it."
    ),
) -> None:
    """Write the markdown report (and figures) of a study run; a run split among processes is gathered first."""
    from hebbian.studies import rundir, shards
    from hebbian.studies.errors import StudyError
    from hebbian.studies.report import write_report

    try:
        split = (rundir.read_meta(run_dir) or {}).get("shards")
        path = shards.report(run_dir, out) if split else write_report(run_dir, out)
    except StudyError as e:
        io.fail(*e.lines)
    io.out.print(f"report: {path}", highlight=False)


def power(
    test: str = typer.Option(
        ..., "--test", help="paired_t, wilcoxon, welch_t, t_ind, fisher, proportions, mcnemar."
    ),
    effect: float | None = typer.Option(
        None, "--effect", help="Smallest effect of interest: d_z, d, Cohen's h, or p10 - p01."
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", help="Alpha, the per-test rate of false rejections under H0."
    ),
    target: float = typer.Option(0.8, "--power", help="Target power."),
    alternative: str = typer.Option(
        "two-sided", "--alternative", help="two-sided, greater or less."
    ),
    n: int | None = typer.Option(
        None,
        "--n",
        help="Given n: print the achieved power and the minimum detectable effect instead.",
    ),
    discordant: float | None = typer.Option(None, "--discordant", help="mcnemar only: p10 + p01."),
) -> None:
    """Sample size for a test and effect size, or the power and minimum detectable effect of a given n."""
    from hebbian.studies import power as calc

    kw = {"discordant": discordant} if discordant is not None else {}
    try:
        if n is None:
            if effect is None:
                io.fail(
                    "give --effect (the smallest effect of interest), or --n for the minimum detectable effect"
                )
            n_for = calc.n_for(test, effect, alpha, target, alternative, **kw)
            io.out.print(f"n = {n_for}", highlight=False)
            io.out.print(
                calc.describe(test, effect, alpha, target, alternative, **kw), highlight=False
            )
            return
        name = calc.DESIGNS[test].effect_name if test in calc.DESIGNS else "effect"
        if effect is not None:
            achieved = calc.achieved_power(test, effect, n, alpha, alternative, **kw)
            io.out.print(f"achieved power at n = {n}: {achieved:.3f}", highlight=False)
        mde = calc.min_detectable_effect(test, n, alpha, target, alternative, **kw)
        io.out.print(
            f"minimum detectable effect at n = {n} ({target:.0%} power, alpha {alpha:g}, {alternative}): "
            f"{name} = {mde:.4g}",
            highlight=False,
        )
    except ValueError as e:
        io.fail(str(e))


def tune(
    spec: Path = typer.Argument(..., help="A tuning file (see prereg/tuning/recall.yaml)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: runs/<id>)."),
    report_to: Path | None = typer.Option(
        None,
        "--report",
        help="Markdown report (default: RUN_DIR/report.md); its figure goes beside it.",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="K/N",
        help="Run only share K (0 to N-1) of the tuning items split N ways, as "
        "`hebbian study --shard` does.",
    ),
) -> None:
    """Tune a study's treatments on a tuning split: every grid point on every tuning item, resumable; then
    report each point against the reference and pick, per condition, the best. The pre-registration
    itself is never changed: write the picks into it as a new version, before any confirmatory trial."""
    from hebbian.studies import shards
    from hebbian.studies.errors import StudyError
    from hebbian.studies.tuning import load_spec, report_shares, run_tuning, write_tuning_report

    try:
        share = shards.resolve(shard)
        run = run_tuning(spec, out=out, shard=share)
        path = (
            write_tuning_report(load_spec(spec), run, report_to)
            if share is None
            else report_shares(load_spec(spec), run, report_to)
        )
    except StudyError as e:
        io.fail(*e.lines)
    except KeyboardInterrupt:
        io.fail(
            "interrupted; every finished trial is saved: rerun the same command to resume", code=130
        )
    if path is None:
        io.err.print(
            f"share {share} is finished; the last share to finish writes the report",
            highlight=False,
        )
        return
    io.out.print(f"report: {path}", highlight=False)
