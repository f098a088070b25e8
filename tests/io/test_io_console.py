"""hebbian.io.console: a user error is one plain line per problem on stderr and a non-zero exit."""

import io

import pytest
import typer
from rich.console import Console

from hebbian.io import console


def test_fail_prints_one_line_and_exits_non_zero(capsys):
    with pytest.raises(typer.Exit) as exit:
        console.fail("--mode [rank1]: a message whose brackets are not markup " + "x" * 200)
    assert exit.value.exit_code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: --mode [rank1]: a message whose brackets are not markup " + "x" * 200 + "\n"
    )


def test_fail_prints_one_line_per_problem_with_the_exit_code_asked(capsys):
    with pytest.raises(typer.Exit) as exit:
        console.fail("first", "second", code=3)
    assert exit.value.exit_code == 3
    assert capsys.readouterr().err.splitlines() == ["error: first", "error: second"]


def test_warn_is_one_line_on_stderr(capsys):
    console.warn("a [b] c")
    assert capsys.readouterr().err == "warning: a [b] c\n"


def test_stage_bars_keep_one_bar_per_stage():
    screen = Console(file=io.StringIO(), width=100)
    with console.stage_bars(screen) as update:
        update("collect", 0, 4)
        update("collect", 4, 4)
        update("train", 1, 2)
    lines = screen.file.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["collect", "train"]
    assert " 4/4 elapsed " in lines[0] and " 1/2 elapsed " in lines[1]
