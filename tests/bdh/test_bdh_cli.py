"""Smoke test of `hebbian bdh train|protocol|scaffold` at the tiny preset: each command runs,
writes its report and figures, and the scaffold's recall really runs in a second process."""

import json

import pytest
import typer
from typer.testing import CliRunner

from hebbian.bdh import commands

app = typer.Typer()
app.command("train")(commands.train)
app.command("protocol")(commands.protocol)
app.command("scaffold")(commands.scaffold)
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bdh")
    result = runner.invoke(
        app,
        ["train", "--scale", "tiny", "--checkpoint", str(root / "ck"), "--out", str(root / "rep")],
    )
    assert result.exit_code == 0, result.output
    return root


def test_train_writes_a_checkpoint_and_an_honest_report(trained):
    assert {p.name for p in (trained / "ck").iterdir()} == {"config.json", "model.safetensors"}
    text = (trained / "rep" / "train.md").read_text()
    assert "nanoGPT" in text and "validation loss" in text and "git revision" in text
    assert (trained / "rep" / "train_loss.png").stat().st_size > 0
    assert json.loads((trained / "ck" / "config.json").read_text())["meta"]["steps"] == 20


def test_protocol_writes_R1_to_R7(tmp_path):
    result = runner.invoke(app, ["protocol", "--scale", "tiny", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "protocol.md").read_text()
    for i in range(1, 8):
        assert f"## R{i}:" in text
    pngs = {p.name for p in tmp_path.glob("*.png")}
    assert {
        "R1_emergence.png",
        "R2_hebbian_growth.png",
        "R3_sparsity.png",
        "R4_overlap.png",
        "R5_persistence.png",
        "R6_variance.png",
        "R7_learning_curves.png",
    } <= pngs


def test_scaffold_recalls_in_a_fresh_process(trained, tmp_path):
    synapses = tmp_path / "mem" / "synapses.safetensors"
    result = runner.invoke(
        app,
        [
            "scaffold",
            "--checkpoint",
            str(trained / "ck"),
            "--facts",
            "4",
            "--repeats",
            "1",
            "--synapses",
            str(synapses),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        synapses.exists()
        and len(json.loads((tmp_path / "mem" / "recall.json").read_text())["after"]) == 8
    )
    text = (tmp_path / "scaffold.md").read_text()
    assert "The two rows agree exactly" in text and "Wilcoxon" in text


def test_scaffold_without_a_checkpoint_is_one_clear_error(tmp_path):
    result = runner.invoke(app, ["scaffold", "--checkpoint", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "train one first" in result.output and "Traceback" not in result.output


def test_unknown_scale_is_refused():
    result = runner.invoke(app, ["train", "--scale", "huge"])
    assert result.exit_code == 2 and "unknown scale" in result.output
