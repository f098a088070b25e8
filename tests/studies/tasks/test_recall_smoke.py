"""prereg/recall-smoke.yaml end to end on the real default model: the pipeline, not the science."""

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from hebbian.studies.commands import study

PREREG = Path(__file__).resolve().parents[3] / "prereg" / "recall-smoke.yaml"


def test_recall_smoke_study_runs_end_to_end(default_gguf, tmp_path):
    app = typer.Typer()
    app.command()(study)
    result = CliRunner().invoke(app, [str(PREREG), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output + result.stderr
    trials = [
        json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    ]
    assert len(trials) == 3 * 4  # every condition on every item
    assert {t["condition"] for t in trials} == {"full_cache", "no_fact", "window_only", "memory"}
    for t in trials:
        outcome = t["outcome"]
        assert (
            isinstance(outcome["correct"], bool)
            and outcome["logprob"] < 0
            and isinstance(outcome["reply"], str)
        )
        if t["condition"] != "no_fact":
            assert outcome["distance"] > 16 + 4  # the fact really is beyond the window
    report = (tmp_path / "run" / "report.md").read_text()
    assert "H1" in report and "underpowered" in report.lower()
    assert "## Fluency of the replies" in report and '- `window_only`, recall-00000: `` "' in report
