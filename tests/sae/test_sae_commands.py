"""`hebbian sae synthetic|llm` end to end on tiny settings, through typer's CliRunner."""

import json
import math

import typer
from gguf_fixtures import tiny_model
from typer.testing import CliRunner

import hebbian.corpus
import hebbian.models
from hebbian.sae import commands

app = typer.Typer()
app.command()(commands.synthetic)
app.command()(commands.llm)


class CharTokenizer:
    def encode(self, text):
        return [ord(c) % 200 for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_synthetic_command_writes_report(tmp_path):
    result = CliRunner().invoke(
        app, ["synthetic", "--seeds", "2", "--steps", "5", "--latents", "8", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = (tmp_path / "synthetic.md").read_text()
    assert "## Verdicts on the seed's claims" in report and "git revision" in report
    assert len(json.loads((tmp_path / "synthetic_summary.json").read_text())) == 2 * 18
    assert (tmp_path / "figures" / "synthetic_beta_sweep.png").stat().st_size > 0


def test_llm_command_runs_the_pipeline_and_restores_the_model(tmp_path, monkeypatch):
    model = tiny_model("llama", seed=0)
    layer = model.model.layers[1]
    monkeypatch.setattr(hebbian.models, "load", lambda spec: (model, CharTokenizer()))
    monkeypatch.setattr(
        hebbian.corpus, "load", lambda name: "It is a truth universally acknowledged. " * 40
    )
    args = [
        "llm",
        "--layer",
        "1",
        "--tokens",
        "300",
        "--ctx",
        "16",
        "--eval-contexts",
        "6",
        "--latents",
        "32",
        "--k",
        "4",
        "--horizon",
        "4",
        "--steps",
        "12",
        "--batch-size",
        "64",
        "--out",
        str(tmp_path / "out"),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert model.model.layers[1] is layer
    metrics = json.loads((tmp_path / "out" / "llm_metrics.json").read_text())
    assert set(metrics["saes"]) == {"topk", "relu", "relu_weighted"}
    assert metrics["saes"]["topk"]["L0"] <= 4
    assert all(math.isfinite(m["CE loss recovered"]) for m in metrics["saes"].values())
    assert len(metrics["comparisons"]) == 7
    assert list((tmp_path / "runs").glob("activations-*.npz"))
    assert "CE loss recovered" in (tmp_path / "out" / "llm.md").read_text()


def test_llm_command_reports_bad_options(tmp_path):
    bad = (
        (["--k", "64", "--latents", "32"], "exceeds"),
        (["--horizon", "16", "--ctx", "16"], "smaller"),
    )
    for args, message in bad:
        result = CliRunner().invoke(app, ["llm", *args, "--out", str(tmp_path)])
        assert result.exit_code == 2 and message in result.output
