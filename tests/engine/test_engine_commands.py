"""`hebbian chat` and `hebbian bench engine`, driven through typer's CliRunner."""

import typer
from gguf_fixtures import tiny_model, write_gguf
from typer.testing import CliRunner

from hebbian.engine import MODES, EngineConfig, HebbianEngine
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
    lines = [
        "hello there",
        "/stats",
        "and again",
        "/save",
        "/load nowhere",
        "/reset",
        "/mode slots",
        "hi",
        "/bogus",
        "/help",
        "/save",
        "/quit",
        "never read",
    ]
    result = runner.invoke(
        app,
        ["chat", "-m", model, "--window", "8", "--sinks", "2", "-n", "6", "--memory", str(memory)],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    for shown in ("mass", "prompt", "tok/s", "peak"):  # the status line after each reply
        assert shown in result.stderr
    assert "tokens_seen" in result.stdout and "/reset [all]" in result.stdout
    assert (
        "nowhere: no such file" in result.stderr
        and "unknown or incomplete command /bogus" in result.stderr
    )
    assert read_state(memory)[1]["config"]["mode"] == "slots"  # /save after /mode slots replaced it
    # without --mode, the next session continues in the memory's mode
    again = runner.invoke(
        app,
        ["chat", "-m", model, "--window", "8", "--sinks", "2", "-n", "3", "--memory", str(memory)],
        input="hi\n",
    )
    assert again.exit_code == 0 and "slots mass" in again.stderr and "memory loaded" in again.stderr


def test_chat_refuses_a_bad_model_or_memory_file_in_one_line(tmp_path):
    result = runner.invoke(app, ["chat", "-m", str(tmp_path / "missing.gguf")], input="hi\n")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "error:" in result.stderr
    broken = tmp_path / "broken"
    broken.write_bytes(b"not a state file")
    result = runner.invoke(
        app, ["chat", "-m", tiny_gguf(tmp_path), "--memory", str(broken)], input="hi\n"
    )
    assert result.exit_code == 2 and "not overwriting" in result.stderr
    assert broken.read_bytes() == b"not a state file"
    result = runner.invoke(
        app, ["chat", "-m", tiny_gguf(tmp_path), "--mode", "dream"], input="hi\n"
    )
    assert result.exit_code == 2 and "mode must be one of" in result.stderr


def chat_lines(*args, lines=()):
    return runner.invoke(
        app, ["chat", *map(str, args)], input="".join(f"{line}\n" for line in lines)
    )


def memory_chat_in_window_8(model, memory, lines):
    """A chat in mode memory (window 8, 2 sinks) that keeps its state in ``memory``."""
    return chat_lines(
        "-m",
        model,
        "--mode",
        "memory",
        "--window",
        "8",
        "--sinks",
        "2",
        "-n",
        "3",
        "--memory",
        memory,
        lines=lines,
    )


def test_a_save_into_a_missing_folder_says_so_and_the_chat_goes_on(tmp_path):
    model, missing = tiny_gguf(tmp_path), tmp_path / "missing" / "x.safetensors"
    result = chat_lines(
        "-m",
        model,
        "--window",
        "8",
        "--sinks",
        "2",
        "-n",
        "3",
        lines=["hello", f"/save {missing}", "again"],
    )
    assert result.exit_code == 0, result.output
    assert f"cannot write {missing}: no such folder" in result.stderr
    assert result.stderr.count("| prompt") == 2  # both turns answered


def test_a_memory_file_in_a_missing_folder_is_refused_at_start(tmp_path):
    missing = tmp_path / "missing" / "m.safetensors"
    result = chat_lines("-m", tiny_gguf(tmp_path), "--memory", missing, lines=["hello"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "no folder" in result.stderr
    assert "| prompt" not in result.stderr  # before any turn


def test_a_memory_file_reopens_with_the_settings_it_was_saved_with(tmp_path):
    model, memory = tiny_gguf(tmp_path), tmp_path / "memory.safetensors"
    first = memory_chat_in_window_8(model, memory, lines=["hello", "/quit"])
    assert first.exit_code == 0, first.output
    again = chat_lines("-m", model, "-n", "3", "--memory", memory, lines=["hi", "/quit"])
    assert again.exit_code == 0, again.output
    assert f"memory loaded from {memory} (mode memory, window 8, sinks 2)" in again.stderr
    assert "window 10/10" in again.stderr and "was saved with" not in again.stderr
    assert read_state(memory)[1]["config"]["window"] == 8  # not rewritten with the default window
    wider = chat_lines("-m", model, "-n", "3", "--window", "12", "--memory", memory, lines=["hi"])
    assert wider.exit_code == 0, wider.output
    assert f"warning: {memory} was saved with window 8; this session runs window 12" in wider.stderr
    assert read_state(memory)[1]["config"]["window"] == 12  # as the user was told


def test_switching_mode_leaves_the_memory_file_as_it_was(tmp_path):
    model, memory = tiny_gguf(tmp_path), tmp_path / "memory.safetensors"
    memory_chat_in_window_8(model, memory, lines=["hello"])
    saved = memory.read_bytes()
    result = chat_lines(
        "-m", model, "-n", "3", "--memory", memory, lines=["/mode slots", "hi", "/quit"]
    )
    assert result.exit_code == 0, result.output
    assert f"{memory} keeps the memory state it has" in result.stderr
    assert memory.read_bytes() == saved


def test_settings_that_make_a_poor_chat_are_warned_about(tmp_path):
    result = chat_lines(
        "-m", tiny_gguf(tmp_path), "--window", "3", "--sinks", "0", "-n", "2", lines=["hi"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: 0 sinks" in result.stderr and "warning: window 3" in result.stderr


def test_dash_m_with_a_number_is_read_as_mlx_lm_chat_meant_it(tmp_path):
    result = chat_lines("-m", "100", lines=["hi"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "use --max-tokens 100" in result.stderr


def test_seed_and_temperature_sample_as_mlx_lm_chat_does(tmp_path):
    model = tiny_gguf(tmp_path)

    def reply(seed):
        result = chat_lines("-m", model, "--temp", "2", "--seed", seed, "-n", "12", lines=["hello"])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert reply(1) == reply(1) != reply(2)


def test_chat_help_reads_like_mlx_lm_chat_and_says_where_it_differs():
    result = runner.invoke(app, ["chat", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for option in (
        "--model",
        "--temp",
        "--seed",
        "--prefill-step-size",
        "--max-tokens",
        "--system-prompt",
    ):
        assert option in result.stdout
    assert "mlx_lm.chat's -m is --max-tokens" in result.stdout and "--max-kv-size" in result.stdout


def test_chat_with_the_default_model(default_model, tmp_path, monkeypatch):
    import hebbian.models

    # loaded once per session
    monkeypatch.setattr(hebbian.models, "load", lambda spec: default_model)
    state = tmp_path / "memory.safetensors"
    turns = (
        "My name is Ada and I like tea.\nWhat do I like to drink?\n/stats\n/save "
        + str(state)
        + "\n"
    )
    result = runner.invoke(
        app, ["chat", "--mode", "episodic", "--window", "60", "-n", "12"], input=turns
    )
    assert result.exit_code == 0, result.output
    replies = [
        line
        for line in result.stdout.splitlines()
        if line.strip() and "│" not in line and "━" not in line
    ]
    assert len(replies) >= 2 and all(r.strip() for r in replies[:2])
    assert "consolidated" in result.stdout  # /stats
    fresh = HebbianEngine(*default_model, EngineConfig(window=60, mode="episodic"))
    fresh.load(state)  # the saved memory loads onto the same model
    assert fresh.diagnostics()["consolidated"] > 0


def test_bench_engine_prints_every_contender_and_the_targets(tmp_path):
    result = runner.invoke(
        app,
        [
            "bench",
            "-m",
            tiny_gguf(tmp_path),
            "--context",
            "40",
            "--decode",
            "3",
            "--repeats",
            "1",
            "--window",
            "16",
            "--passes",
            "2",
            "--block",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("mlx-lm full", "mlx-lm rotating", *(f"engine {mode}" for mode in MODES)):
        assert name in result.stdout
    # each mode judged against its own target: episodic's is 0.8x, every other's 0.9x
    for mode in MODES:
        verdict = next(
            line for line in result.stdout.splitlines() if line.startswith(f"engine {mode}: decode")
        )
        assert verdict.endswith(">= 0.8x)" if mode == "episodic" else ">= 0.9x)"), verdict
    # the decode verdict's measurement
    assert result.stdout.count("median of 2 paired blocks") == len(MODES)
