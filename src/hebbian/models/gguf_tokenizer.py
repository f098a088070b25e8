"""Build an mlx-lm tokenizer from the metadata of a GGUF file alone.

A GGUF file carries its vocabulary (tokens, merges or scores, token types,
special ids, chat template) under ``tokenizer.*`` keys.  This module turns
them into a ``tokenizers`` pipeline, wraps it in transformers'
``PreTrainedTokenizerFast`` and then in mlx-lm's ``TokenizerWrapper``, so a
GGUF model needs no separate ``tokenizer.json``.  transformers' own GGUF
loader imports torch, which this project does not install.

Two vocabulary kinds are supported:

* ``gpt2``: byte-level BPE from tokens and merges, pre-tokenized as named by
  ``tokenizer.ggml.pre`` (regexes follow llama.cpp's ``llama-vocab.cpp``).
* ``llama``: SentencePiece-style BPE with byte fallback, its merges derived
  from the piece scores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import gguf
from mlx_lm.tokenizer_utils import (
    BPEStreamingDetokenizer,
    SPMStreamingDetokenizer,
    TokenizerWrapper,
)
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)
from transformers import PreTrainedTokenizerFast

__all__ = ["build_tokenizer"]

_SPACE = "\u2581"  # SentencePiece's visible space, "▁"

_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_REGEX = _QWEN2_REGEX.replace(r"|\p{N}|", r"|\p{N}{1,3}|")


@dataclass(frozen=True)
class _PreTokenizer:
    """How one ``tokenizer.ggml.pre`` value splits text before byte-level BPE."""

    regex: str
    split_digits: bool = False
    ignore_merges: bool = False  # a word that is itself a token skips merging
    add_bos: bool = False  # llama.cpp's default when the GGUF omits add_bos_token


_GPT2 = _PreTokenizer(_GPT2_REGEX)
_LLAMA3 = _PreTokenizer(_LLAMA3_REGEX, ignore_merges=True, add_bos=True)
_PRE_TOKENIZERS = {
    "gpt2": _GPT2,
    "gpt-2": _GPT2,
    "default": _GPT2,
    "smollm": _PreTokenizer(_GPT2_REGEX, split_digits=True),
    "starcoder": _PreTokenizer(_GPT2_REGEX, split_digits=True),
    "qwen2": _PreTokenizer(_QWEN2_REGEX),
    "llama-bpe": _LLAMA3,
    "llama3": _LLAMA3,
    "llama-v3": _LLAMA3,
}


def _field(reader: gguf.GGUFReader, key: str, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def _vocab(tokens: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        vocab.setdefault(token, index)  # a duplicate keeps its first id
    return vocab


def _split_merge(merge: str) -> tuple[str, str]:
    # Search from index 1 so a left piece that is itself a space survives.
    cut = merge.index(" ", 1)
    return merge[:cut], merge[cut + 1 :]


def _byte_level_bpe(meta, tokens, types):
    pre = meta("tokenizer.ggml.pre")
    spec = _PRE_TOKENIZERS.get(pre)
    if spec is None:
        warnings.warn(f"unknown GGUF pre-tokenizer {pre!r}; using GPT-2's", stacklevel=3)
        spec = _GPT2
    merges = [_split_merge(m) for m in meta("tokenizer.ggml.merges", [])]
    backend = Tokenizer(models.BPE(_vocab(tokens), merges, ignore_merges=spec.ignore_merges))
    steps = [pre_tokenizers.Digits(individual_digits=True)] if spec.split_digits else []
    steps += [
        pre_tokenizers.Split(Regex(spec.regex), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ]
    backend.pre_tokenizer = pre_tokenizers.Sequence(steps)
    backend.decoder = decoders.ByteLevel()
    return backend, BPEStreamingDetokenizer, spec.add_bos


def _merges_from_scores(tokens, scores, types) -> list[tuple[str, str]]:
    """SentencePiece merges: any split of a piece into two pieces, best merged score first.

    Splitting each piece at every position costs O(total piece length), unlike
    pairing all pieces, which a 262k vocabulary could not afford.
    """
    pieces = {}
    for token, score, kind in zip(tokens, scores, types, strict=True):
        if kind == gguf.TokenType.NORMAL:
            pieces.setdefault(token, score)
    ranked = [
        (-score, piece[:cut], piece[cut:])
        for piece, score in pieces.items()
        for cut in range(1, len(piece))
        if piece[:cut] in pieces and piece[cut:] in pieces
    ]
    ranked.sort(key=lambda merge: merge[0])  # stable: ties keep vocabulary order
    return [(left, right) for _, left, right in ranked]


def _sentencepiece_bpe(meta, tokens, types):
    scores = meta("tokenizer.ggml.scores") or [0.0] * len(tokens)
    unk_id = meta("tokenizer.ggml.unknown_token_id")
    model = models.BPE(
        _vocab(tokens),
        _merges_from_scores(tokens, scores, types),
        unk_token=None if unk_id is None else tokens[unk_id],
        fuse_unk=True,
        byte_fallback=True,
    )
    backend = Tokenizer(model)
    prefix = bool(meta("tokenizer.ggml.add_space_prefix", True))
    normalize = [normalizers.Replace(" ", _SPACE)]
    decode = [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if prefix:
        normalize.insert(0, normalizers.Prepend(_SPACE))
        decode.append(decoders.Strip(" ", 1, 0))
    backend.normalizer = normalizers.Sequence(normalize)
    backend.decoder = decoders.Sequence(decode)
    return backend, partial(SPMStreamingDetokenizer, trim_space=prefix), True


_BUILDERS = {"gpt2": _byte_level_bpe, "llama": _sentencepiece_bpe}


def _add_special_tokens(backend: Tokenizer, tokens, types) -> None:
    """Make control and user-defined tokens match whole; only control ones are special."""
    control = [i for i, kind in enumerate(types) if kind == gguf.TokenType.CONTROL]
    user = [i for i, kind in enumerate(types) if kind == gguf.TokenType.USER_DEFINED]
    backend.add_special_tokens(
        [AddedToken(tokens[i], special=True, normalized=False) for i in control]
    )
    backend.add_tokens([AddedToken(tokens[i], special=False, normalized=False) for i in user])


def _prepend_bos(backend: Tokenizer, bos: str, bos_id: int) -> None:
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0",
        pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
        special_tokens=[(bos, bos_id)],
    )


def build_tokenizer(reader: gguf.GGUFReader) -> TokenizerWrapper:
    """Build the tokenizer a GGUF file describes, ready for mlx-lm generation."""
    meta = partial(_field, reader)
    kind = meta("tokenizer.ggml.model")
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(
            f"unsupported GGUF tokenizer model {kind!r}; supported: {', '.join(_BUILDERS)}"
        )
    tokens = meta("tokenizer.ggml.tokens")
    types = meta("tokenizer.ggml.token_type") or [gguf.TokenType.NORMAL] * len(tokens)
    backend, detokenizer_class, add_bos_default = builder(meta, tokens, types)
    _add_special_tokens(backend, tokens, types)

    def token(key: str) -> str | None:
        index = meta(f"tokenizer.ggml.{key}_token_id")
        return None if index is None else tokens[index]

    bos_id = meta("tokenizer.ggml.bos_token_id")
    if bos_id is not None and meta("tokenizer.ggml.add_bos_token", add_bos_default):
        _prepend_bos(backend, tokens[bos_id], bos_id)

    hf_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=token("bos"),
        eos_token=token("eos"),
        unk_token=token("unknown"),
        pad_token=token("padding"),
        chat_template=meta("tokenizer.chat_template"),
    )
    eos_ids = [meta(f"tokenizer.ggml.{key}_token_id") for key in ("eos", "eot", "eom")]
    return TokenizerWrapper(
        hf_tokenizer,
        detokenizer_class,
        eos_token_ids=[i for i in eos_ids if i is not None],
    )
