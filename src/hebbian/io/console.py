"""Terminal output for every command: the two consoles, one-line errors and warnings, progress bars.

API: ``out``, ``err``, ``fail(*problems, code=2)``, ``warn(message)``, ``progress_bar(console)``,
``stage_bars(console)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
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

# soft_wrap: an error or a path is one line however narrow the terminal, so tests and scripts can
# read it back. Both consoles find sys.stdout/sys.stderr when they print, so a test runner's
# captured streams are used.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(*problems: str, code: int = 2) -> NoReturn:
    """One ``error:`` line per problem on stderr and a non-zero exit: how every user error ends.

    Messages are printed as plain text: brackets in them are not rich markup."""
    for problem in problems:
        err.print(Text.assemble(("error: ", "bold red"), problem))
    raise typer.Exit(code)


def warn(message: str) -> None:
    """One line on stderr about a choice that works but is likely not what was meant."""
    err.print(Text.assemble(("warning: ", "yellow"), message))


def progress_bar(console: Console = err, transient: bool = False) -> Progress:
    """A rich progress display: description, bar, done/total, elapsed time and ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@contextmanager
def stage_bars(console: Console = err) -> Iterator[Callable[[str, int, int], None]]:
    """Yield ``update(stage, done, total)``: one bar per stage, added when the stage first reports."""
    bars = progress_bar(console)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield update
