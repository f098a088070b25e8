"""`hebbian chat` and `hebbian bench engine`, driven through typer's CliRunner."""

import typer
from gguf_fixtures import tiny_model, write_gguf
from typer.testing import CliRunner

from hebbian.engine import EngineConfig, HebbianEngine
from hebbian.engine.commands import bench_engine, chat
from hebbian.engine.state import read_state

app = typer.Typer()
app.command("chat")(chat)
app.command("bench")(bench_engine)
runner = CliRunner()


def tiny_gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(tiny_model("llama"), path, "llama")
    return str(path)


def test_chat_runs_turns_and_commands_from_piped_input(tmp_path):
    model, memory = tiny_gguf(tmp_path), tmp_path / "memory.safetensors"
    lines = ["hello there", "/stats", "and again", "/save", "/load nowhere", "/reset", "/mode slots", "hi",
             "/bogus", "/help", "/quit", "never read"]
    result = runner.invoke(app, ["chat", "-m", model, "--window", "8", "--sinks", "2", "-n", "6",
                                 "--memory", str(memory)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "mass" in result.stderr and "tok/s" in result.stderr  # the status line after each reply
    assert "tokens_seen" in result.stdout and "/reset [all]" in result.stdout
    assert "nowhere: no such file" in result.stderr and "unknown or incomplete command /bogus" in result.stderr
    assert read_state(memory)[1]["config"]["mode"] == "slots"  # saved at exit, after /mode slots
    # without --mode, the next session continues in the memory's mode
    again = runner.invoke(app, ["chat", "-m", model, "--window", "8", "--sinks", "2", "-n", "3",
                                "--memory", str(memory)], input="hi\n")
    assert again.exit_code == 0 and "slots mass" in again.stderr and "memory loaded" in again.stderr


def test_chat_refuses_a_bad_model_or_memory_file_in_one_line(tmp_path):
    result = runner.invoke(app, ["chat", "-m", str(tmp_path / "missing.gguf")], input="hi\n")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "error:" in result.stderr
    broken = tmp_path / "broken"
    broken.write_bytes(b"not a state file")
    result = runner.invoke(app, ["chat", "-m", tiny_gguf(tmp_path), "--memory", str(broken)], input="hi\n")
    assert result.exit_code == 2 and "not overwriting" in result.stderr
    assert broken.read_bytes() == b"not a state file"
    result = runner.invoke(app, ["chat", "-m", tiny_gguf(tmp_path), "--mode", "dream"], input="hi\n")
    assert result.exit_code == 2 and "mode must be one of" in result.stderr


def test_chat_with_the_default_model(default_model, tmp_path, monkeypatch):
    import hebbian.models

    monkeypatch.setattr(hebbian.models, "load", lambda spec: default_model)  # loaded once per session
    state = tmp_path / "memory.safetensors"
    turns = "My name is Ada and I like tea.\nWhat do I like to drink?\n/stats\n/save " + str(state) + "\n"
    result = runner.invoke(app, ["chat", "--window", "60", "-n", "12"], input=turns)
    assert result.exit_code == 0, result.output
    replies = [line for line in result.stdout.splitlines() if line.strip() and "│" not in line and "━" not in line]
    assert len(replies) >= 2 and all(r.strip() for r in replies[:2])
    assert "consolidated" in result.stdout  # /stats
    fresh = HebbianEngine(*default_model, EngineConfig(window=60))
    fresh.load(state)  # the saved memory loads onto the same model
    assert fresh.diagnostics()["consolidated"] > 0


def test_bench_engine_prints_every_contender_and_the_targets(tmp_path):
    result = runner.invoke(app, ["bench", "-m", tiny_gguf(tmp_path), "--context", "40", "--decode", "3",
                                 "--repeats", "1", "--window", "16", "--passes", "2", "--block", "4"])
    assert result.exit_code == 0, result.output
    for name in ("mlx-lm full", "mlx-lm rotating", "engine off", "engine rank1", "engine association",
                 "engine memory", "engine slots"):
        assert name in result.stdout
    assert result.stdout.count(">= 0.9x") == 5
    assert result.stdout.count("median of 2 paired blocks") == 5  # the decode verdict's measurement
