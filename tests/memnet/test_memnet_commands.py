"""`memnet train` resumes without rerunning seeds, refuses mixed settings; `memnet report` writes the report."""

import json

import pytest
import typer
from typer.testing import CliRunner

from hebbian.memnet import commands, experiments

app = typer.Typer()
app.command()(commands.train)
app.command()(commands.report)
runner = CliRunner()
TINY = ["--steps", "3", "--eval-sequences", "8", "--batch-size", "4"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def ran_seeds(monkeypatch):
    """Record which seeds `train` actually runs."""
    seen = []
    real = experiments.run_seed

    def spy(settings, seed, advance):
        seen.append(seed)
        return real(settings, seed, advance)

    monkeypatch.setattr(experiments, "run_seed", spy)
    return seen


def test_a_second_train_call_skips_completed_seeds(tmp_path, ran_seeds):
    args = [
        "train",
        "--task",
        "dependency",
        *TINY,
        "--variants",
        "memnet,lstm",
        "--runs-dir",
        tmp_path,
    ]
    first = invoke(*args, "--seeds", 2)
    assert first.exit_code == 0, first.output
    assert ran_seeds == [0, 1]
    stored = (tmp_path / "dependency" / "seed_0.json").read_text()

    second = invoke(*args, "--seeds", 3)
    assert second.exit_code == 0, second.output
    assert ran_seeds == [0, 1, 2]  # only the new seed ran
    assert "2 seed(s) already done" in second.output
    assert (tmp_path / "dependency" / "seed_0.json").read_text() == stored
    result = json.loads((tmp_path / "dependency" / "seed_2.json").read_text())
    assert set(result["variants"]) == {"memnet", "lstm"} and result["seed"] == 2


def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    base = [
        "train",
        "--task",
        "dependency",
        "--variants",
        "lstm",
        "--eval-sequences",
        "8",
        "--batch-size",
        "4",
        "--seeds",
        1,
        "--runs-dir",
        tmp_path,
    ]
    assert invoke(*base, "--steps", 2).exit_code == 0
    refused = invoke(*base, "--steps", 3)
    assert refused.exit_code == 2
    assert refused.output.strip().startswith("error:") and "steps" in refused.output


def test_unknown_variants_are_a_one_line_error(tmp_path):
    result = invoke(
        "train", "--task", "continual", "--variants", "memnet,gpt", "--runs-dir", tmp_path
    )
    assert (
        result.exit_code == 2 and "variants" in result.output and "Traceback" not in result.output
    )


def test_report_writes_markdown_with_figures_and_provenance(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports"
    trained = invoke(
        "train",
        "--task",
        "forgetting",
        *TINY,
        "--seeds",
        2,
        "--variants",
        "memnet,memnet_no_graph,transformer",
        "--runs-dir",
        runs,
    )
    assert trained.exit_code == 0, trained.output
    reported = invoke("report", "--runs-dir", runs, "--out", out)
    assert reported.exit_code == 0, reported.output
    text = (out / "forgetting.md").read_text()
    for needed in (
        "git revision",
        "mlx ",
        "seeds (0, 1)",
        "| memnet_no_graph |",
        "p (Holm)",
        '"steps": 3',
    ):
        assert needed in text
    figures = sorted(p.name for p in out.glob("forgetting_*.png"))
    assert "forgetting_survival.png" in figures and "forgetting_heatmap.png" in figures
    assert all(f"({name})" in text for name in figures)


def test_report_without_results_says_what_to_run(tmp_path):
    result = invoke("report", "--task", "continual", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "memnet train --task continual" in result.output
