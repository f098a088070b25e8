"""The study, power and report commands, driven through a typer app of their own."""

import pytest
import typer
from typer.testing import CliRunner

from hebbian.studies import power as calc
from hebbian.studies.commands import power, report, study

app = typer.Typer(pretty_exceptions_enable=False)
app.command()(study)
app.command()(power)
app.command()(report)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_power_prints_34_for_a_medium_paired_effect():
    result = invoke("power", "--test", "paired_t", "--effect", "0.5")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "n = 34"
    assert calc.describe("paired_t", 0.5) in result.stdout


def test_power_with_n_prints_achieved_power_and_mde():
    result = invoke("power", "--test", "paired_t", "--effect", "0.5", "--n", "34")
    assert result.exit_code == 0
    assert (
        f"achieved power at n = 34: {calc.achieved_power('paired_t', 0.5, 34):.3f}" in result.stdout
    )
    assert f"Cohen's d_z = {calc.min_detectable_effect('paired_t', 34):.4g}" in result.stdout


def test_power_for_mcnemar_takes_the_discordant_proportion():
    result = invoke("power", "--test", "mcnemar", "--effect", "0.1", "--discordant", "0.2")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"n = {calc.n_for('mcnemar', 0.1, discordant=0.2)}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--test", "anova", "--effect", "0.5"], "test must be one of"),
        (["--test", "paired_t"], "give --effect"),
        (["--test", "mcnemar", "--effect", "0.1"], "mcnemar needs discordant"),
    ],
)
def test_power_errors_are_one_line_and_exit_2(args, message):
    result = invoke("power", *args)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and message in result.stderr
    assert "Traceback" not in result.output


def test_study_and_report_commands(tmp_path, monkeypatch):
    from test_prereg import example, write_prereg

    monkeypatch.chdir(tmp_path)
    data = example()
    data["sample_size"]["n"] = 8
    path = write_prereg(tmp_path, data)
    result = invoke("study", path, "--limit", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "report: runs/synthetic-demo-smoke/report.md"
    result = invoke("report", "runs/synthetic-demo-smoke", "--out", "reports/smoke.md")
    assert result.exit_code == 0
    text = (tmp_path / "reports" / "smoke.md").read_text()
    assert text.count("SMOKE RUN") == 1 and "(smoke-figures/conditions-correct.png)" in text
    assert (tmp_path / "reports" / "smoke-figures" / "differences-logprob.png").exists()


def test_report_of_a_directory_that_is_not_a_run(tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"error: {tmp_path}: not a study run directory (no run.json or prereg.yaml)"
    ]


def test_study_limit_must_be_positive(tmp_path):
    from test_prereg import EXAMPLE

    assert invoke("study", EXAMPLE, "--limit", "0").exit_code == 2
