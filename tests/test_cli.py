"""The command line, driven in-process: user errors are one line, never a traceback."""

import pytest
from typer.testing import CliRunner

from hebbian.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "-p", "hi", "--model", "/no/such/model.gguf"], "no such model"),
        (["generate", "-p", "hi", "--model", "pyproject.toml"], "is not a model"),
        (["generate", "-p", "hi", "--model", "qwen2.5-coder-1.5b"], None),
        (["models", "fetch", "nope"], "unknown model 'nope'"),
        # usage errors: typer's, made one line
        (["chat", "--window", "0"], "invalid value for '--window'"),
        (["chat", "--max-tokens", "-1"], "invalid value for '--max-tokens'"),
        (["chat", "--bogus"], "no such option: --bogus"),
        (["chatt"], "no such command 'chatt'"),
        (["models", "fetch"], "missing argument"),
    ],
)
def test_user_errors_are_one_line(args, message, monkeypatch, tmp_path):
    monkeypatch.setenv("HEBBIAN_MODELS", str(tmp_path))  # no optional model installed here
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message is None or message in lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_generate_streams_an_answer_and_reports_speed(default_gguf):
    result = invoke("generate", "-p", "What is the capital of France?", "-n", "20")
    assert result.exit_code == 0, result.stderr
    assert "Paris" in result.stdout
    assert "tokens/s" in result.stderr and "peak memory" in result.stderr


def test_models_lists_the_default(default_gguf):
    result = invoke("models")
    assert result.exit_code == 0
    assert "default" in result.stdout and "gemma3-270m" in result.stdout


def test_doctor_reports_every_line(default_gguf):
    result = invoke("doctor", "--quick")
    assert result.exit_code == 0, result.stdout
    for name in ("platform", "python", "mlx-lm", "backend", "default model"):
        assert name in result.stdout


def test_help_explains_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("doctor", "generate", "models", "bench"):
        assert command in result.stdout
    bare = invoke("bench")  # a bare group: its help, not an error line
    assert "Usage" in bare.stdout and "error" not in bare.stderr
