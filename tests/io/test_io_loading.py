"""hebbian.io.loading: a spec that names no model ends the command with one error line."""

import pytest
import typer

import hebbian.models
from hebbian.io.loading import load_model


def test_a_bad_spec_fails_with_one_line(tmp_path, capsys):
    with pytest.raises(typer.Exit) as exit:
        load_model(str(tmp_path / "missing.gguf"))
    assert exit.value.exit_code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no such model ")


def test_a_good_spec_returns_what_the_models_package_loads(monkeypatch):
    monkeypatch.setattr(hebbian.models, "load", lambda spec: ("model", f"tokenizer of {spec}"))
    assert load_model("x") == ("model", "tokenizer of x")
