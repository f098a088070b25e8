"""Shared fixtures. Real-model and real-text tests need `make setup`; without it they
fail with that hint rather than skip, so a green run always means they ran."""

from pathlib import Path

import pytest

from hebbian import corpus
from hebbian.models.registry import default_model_path


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    path = default_model_path()
    if path is None:
        pytest.fail("the default model is not installed: run `make setup`")
    return path


@pytest.fixture(scope="session")
def default_model(default_gguf):
    from hebbian.models import load

    return load("default")


def require_corpus(name: str) -> str:
    """The text of an installed corpus, or a failure naming the set-up step."""
    try:
        return corpus.load(name)
    except FileNotFoundError as e:
        pytest.fail(str(e))
