"""Shared fixtures. Real-model and real-text tests need `make setup`; without it they
fail with that hint rather than skip, so a green run always means they ran."""

from pathlib import Path

import gguf
import pytest
from gguf_fixtures import tiny_model, write_gguf

from hebbian import corpus
from hebbian.models.registry import default_model_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, tokenizer) of a tiny random llama with the test vocabulary and a chat template."""
    from hebbian.models.gguf_tokenizer import build_tokenizer

    model = tiny_model("llama")
    path = tmp_path_factory.mktemp("tiny") / "m.gguf"
    write_gguf(model, path, "llama")
    tokenizer = build_tokenizer(gguf.GGUFReader(str(path)))
    tokenizer._tokenizer.chat_template = (  # the fixture's template lacks the generation prompt
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return model, tokenizer


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
