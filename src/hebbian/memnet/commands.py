"""`hebbian memnet train` and `hebbian memnet report`: plain typer command functions.

The CLI registers them on its own sub-app, e.g.::

    memnet_app = typer.Typer(help="...", no_args_is_help=True)
    memnet_app.command()(commands.train)
    memnet_app.command()(commands.report)

User errors end as one line on stderr with exit code 2. Heavy imports stay inside the
commands so that `hebbian --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from hebbian.io.console import err, fail, progress_bar

from .store import DEFAULT_ROOT as DEFAULT_RUNS

DEFAULT_REPORTS = Path("reports/memnet")


class Task(StrEnum):
    dependency = "dependency"
    continual = "continual"
    forgetting = "forgetting"


def train(
    task: Task = typer.Option(..., "--task", help="Which experiment to run."),
    seeds: int = typer.Option(
        5, "--seeds", min=1, help="Number of seeds (seed ids first-seed .. first-seed+N-1)."
    ),
    first_seed: int = typer.Option(0, "--first-seed", min=0, help="Id of the first seed."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Training steps per variant (task default if unset)."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Sequences per step."),
    eval_sequences: int | None = typer.Option(
        None, "--eval-sequences", min=1, help="Evaluation sequences per seed."
    ),
    variants: str | None = typer.Option(
        None,
        "--variants",
        help="Comma-separated subset of memnet, memnet_no_graph, memnet_no_dream, "
        "memnet_topk_only, transformer, lstm (default: the task's own set).",
    ),
    runs_dir: Path = typer.Option(
        DEFAULT_RUNS, "--runs-dir", help="Where per-seed JSON results go."
    ),
) -> None:
    """Train every variant of one experiment seed by seed; completed seeds are skipped (resumable)."""
    from . import experiments, store

    chosen = tuple(v.strip() for v in variants.split(",")) if variants else None
    try:
        settings = experiments.settings_for(
            task.value,
            steps=steps,
            batch_size=batch_size,
            eval_sequences=eval_sequences,
            variants=chosen,
        )
        store.check_settings(runs_dir, task.value, settings.to_dict())
    except ValueError as e:
        fail(str(e))
    todo = [
        s
        for s in range(first_seed, first_seed + seeds)
        if not store.is_done(runs_dir, task.value, s)
    ]
    skipped = seeds - len(todo)
    if skipped:
        err.print(f"{skipped} seed(s) already done in {runs_dir / task.value}: skipped")
    if not todo:
        return
    with progress_bar() as progress:
        bar = progress.add_task(
            task.value, total=len(todo) * len(settings.variants) * settings.steps
        )
        for seed in todo:

            def advance(variant: str, seed: int = seed) -> None:
                progress.update(bar, advance=1, description=f"{task.value} seed {seed} {variant}")

            result = experiments.run_seed(settings, seed, advance)
            path = store.save_seed(runs_dir, task.value, seed, result)
            progress.console.print(f"seed {seed} done -> {path}")


def report(
    task: Task | None = typer.Option(
        None, "--task", help="One experiment (default: every one with results)."
    ),
    runs_dir: Path = typer.Option(
        DEFAULT_RUNS, "--runs-dir", help="Where `memnet train` left its results."
    ),
    out_dir: Path = typer.Option(
        DEFAULT_REPORTS, "--out", help="Where the markdown reports and figures go."
    ),
) -> None:
    """Write reports/memnet/<task>.md with figures, tests, config, seeds, git revision and versions."""
    from . import store
    from .report import write_report

    wanted = [task] if task else list(Task)
    written = 0
    for t in wanted:
        seeds = store.load_seeds(runs_dir, t.value)
        if not seeds:
            if task:
                fail(
                    f"no results for {t.value} in {runs_dir}: run `hebbian memnet train --task {t.value}` first"
                )
            continue
        path = write_report(seeds, out_dir)
        err.print(f"{t.value}: {len(seeds)} seed(s) -> {path}")
        written += 1
    if not written:
        fail(f"no results in {runs_dir}: run `hebbian memnet train --task ...` first")
