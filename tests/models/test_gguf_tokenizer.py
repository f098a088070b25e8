"""Tests for building mlx-lm tokenizers from GGUF metadata."""

import re
from itertools import pairwise
from pathlib import Path

import gguf
import numpy as np
import pytest
from mlx_lm.tokenizer_utils import BPEStreamingDetokenizer, SPMStreamingDetokenizer

from hebbian.models.gguf_tokenizer import build_tokenizer

CONTROL, NORMAL, UNKNOWN, BYTE = (
    gguf.TokenType.CONTROL,
    gguf.TokenType.NORMAL,
    gguf.TokenType.UNKNOWN,
    gguf.TokenType.BYTE,
)


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte value, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _write_gguf(path: Path, fields: dict) -> gguf.GGUFReader:
    """Write a GGUF holding one dummy tensor and `fields` (GGUFWriter method -> value)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    for method, value in fields.items():
        getattr(writer, method)(value)
    writer.add_tensor("dummy", np.zeros(1, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return gguf.GGUFReader(str(path))


def _pieces(tokenizer, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))


def _stream(tokenizer, ids: list[int]) -> str:
    detokenizer = tokenizer.detokenizer
    for token in ids:
        detokenizer.add_token(token)
    detokenizer.finalize()
    return detokenizer.text


# --- the real SmolLM2 GGUF ---------------------------------------------------


@pytest.fixture(scope="module")
def smollm(default_gguf):
    reader = gguf.GGUFReader(str(default_gguf))
    return reader, build_tokenizer(reader)


TEXT = (
    "Hello, world! It's 2024-12-31, and the café — naïve  résumé — costs $3.50.\n\n"
    "\tdef f(x):\n        return x ** 2  # 😀\n"
)


def test_smollm_round_trip_and_streaming(smollm):
    _, tok = smollm
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT
    assert isinstance(tok.detokenizer, BPEStreamingDetokenizer)
    assert _stream(tok, ids) == TEXT


def test_smollm_special_tokens(smollm):
    reader, tok = smollm
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    assert tok.encode("<|im_start|>") == [tokens.index("<|im_start|>")]
    ids = tok.encode("<|im_start|>user\nHi<|im_end|>")
    assert ids[0] == 1 and ids[-1] == 2
    assert tok.decode(ids, skip_special_tokens=True) == "user\nHi"
    assert 2 in tok.eos_token_ids and tok.eos_token == "<|im_end|>"


def test_smollm_splits_digits(smollm):
    _, tok = smollm
    assert _pieces(tok, "12345") == list("12345")


def test_smollm_chat_template(smollm):
    _, tok = smollm
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
        "trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def _reference_bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Textbook BPE: repeatedly merge the adjacent pair with the lowest rank."""
    parts = [_byte_chars()[b] for b in word.encode()]
    while len(parts) > 1:
        rank, i = min((ranks.get(pair, len(ranks)), i) for i, pair in enumerate(pairwise(parts)))
        if rank == len(ranks):
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def test_smollm_known_answer_from_merges(smollm):
    reader, tok = smollm
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = reader.fields["tokenizer.ggml.merges"].contents()
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    text = "The capital of France is Paris."
    expected = [
        tokens.index(piece)
        for word in re.findall(r" ?[A-Za-z]+|[^\sA-Za-z]+", text)
        for piece in _reference_bpe(word, ranks)
    ]
    assert tok.encode(text) == expected
    assert len(expected) == 7  # every word is one token in SmolLM2's vocabulary


# --- byte-level BPE pre-tokenizers on a tiny vocabulary -----------------------


def _tiny_bpe(tmp_path: Path, pre: str):
    tokens = ["<|endoftext|>", *_byte_chars(), "ĊĊ", "20", "24", "2024"]
    return _write_gguf(
        tmp_path / f"{pre}.gguf",
        {
            "add_tokenizer_model": "gpt2",
            "add_tokenizer_pre": pre,
            "add_token_list": tokens,
            "add_token_types": [CONTROL] + [NORMAL] * (len(tokens) - 1),
            "add_token_merges": ["Ċ Ċ", "2 0", "2 4", "20 24"],
            "add_bos_token_id": 0,
            "add_eos_token_id": 0,
        },
    )


@pytest.mark.parametrize(
    ("pre", "digits", "newlines"),
    [
        ("gpt2", ["2024"], ["h", "i", "Ċ", "Ċ", "t", "h", "e", "r", "e"]),
        ("qwen2", ["2", "0", "2", "4"], ["h", "i", "ĊĊ", "t", "h", "e", "r", "e"]),
        ("llama-bpe", ["20", "2", "4"], ["h", "i", "ĊĊ", "t", "h", "e", "r", "e"]),
    ],
)
def test_pre_tokenizers_differ_where_their_regexes_do(tmp_path, pre, digits, newlines):
    tok = build_tokenizer(_tiny_bpe(tmp_path, pre))
    assert _pieces(tok, "2024") == digits
    assert _pieces(tok, "hi\n\nthere") == newlines
    assert (
        tok.decode(tok.encode("hi\n\nthere 2024", add_special_tokens=False)) == "hi\n\nthere 2024"
    )
    # llama.cpp prepends BOS for llama 3 vocabularies that do not say otherwise.
    assert (tok.encode("hi")[0] == 0) == (pre == "llama-bpe")


def test_unknown_pre_tokenizer_warns_and_uses_gpt2(tmp_path):
    with pytest.warns(UserWarning, match="mystery"):
        tok = build_tokenizer(_tiny_bpe(tmp_path, "mystery"))
    assert _pieces(tok, "2024") == ["2024"]


# --- SentencePiece-style vocabulary ------------------------------------------

PIECES = {
    **{c: -100.0 for c in ["▁", "h", "e", "l", "o", "w", "r", "d", "a", "b", "c"]},
    "he": -3.0, "ll": -4.0, "hell": -5.0, "hello": -6.0, "▁hello": -7.0,
    "or": -8.0, "ld": -9.0, "▁w": -10.0, "▁wor": -11.0, "▁world": -12.0,
    "ab": -20.0, "bc": -15.0,
}  # fmt: skip


def _tiny_spm(tmp_path: Path, space_prefix: bool):
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *PIECES]
    return _write_gguf(
        tmp_path / "spm.gguf",
        {
            "add_tokenizer_model": "llama",
            "add_token_list": tokens,
            "add_token_scores": [0.0] * 259 + list(PIECES.values()),
            "add_token_types": [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256 + [NORMAL] * len(PIECES),
            "add_unk_token_id": 0,
            "add_bos_token_id": 1,
            "add_eos_token_id": 2,
            "add_add_bos_token": True,
            "add_add_space_prefix": space_prefix,
        },
    )


@pytest.fixture(params=[True, False], ids=["space_prefix", "no_space_prefix"])
def spm(request, tmp_path):
    """(add_space_prefix, tokenizer, lead): `lead + text` normalizes to "▁" + text either way."""
    space_prefix = request.param
    return (
        space_prefix,
        build_tokenizer(_tiny_spm(tmp_path, space_prefix)),
        "" if space_prefix else " ",
    )


def test_spm_highest_score_merges_win(spm):
    _, tok, lead = spm
    assert _pieces(tok, lead + "hello world") == ["▁hello", "▁world"]
    assert _pieces(tok, lead + "abc") == ["▁", "a", "bc"]  # "bc" outscores "ab"


def test_spm_byte_fallback_round_trips(spm):
    _, tok, lead = spm
    assert _pieces(tok, lead + "é") == ["▁", "<0xC3>", "<0xA9>"]
    ids = tok.encode(lead + "hello é world")
    assert ids[0] == 1  # BOS, as add_bos_token says
    assert tok.decode(ids, skip_special_tokens=True) == lead + "hello é world"


def test_spm_leading_space_follows_add_space_prefix(spm):
    space_prefix, tok, _ = spm
    assert _pieces(tok, "hello") == (["▁hello"] if space_prefix else ["hello"])
    assert _pieces(tok, " hello") == (["▁", "▁hello"] if space_prefix else ["▁hello"])
    ids = tok.encode("hello world", add_special_tokens=False)
    assert tok.decode(ids) == "hello world"
    assert isinstance(tok.detokenizer, SPMStreamingDetokenizer)
    assert tok.detokenizer.trim_space == space_prefix
    assert _stream(tok, ids) == "hello world"


def test_unsupported_tokenizer_model(tmp_path):
    reader = _write_gguf(
        tmp_path / "bert.gguf", {"add_tokenizer_model": "bert", "add_token_list": ["[CLS]"]}
    )
    with pytest.raises(ValueError) as error:
        build_tokenizer(reader)
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in ("'bert'", "gpt2", "llama"))
