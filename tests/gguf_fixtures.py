"""Write tiny GGUF files from tiny random mlx-lm models, the way llama.cpp's converter does.

Used by the loader tests: a model built directly and the same weights read back through
our GGUF loader must compute the same logits.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import gguf
import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from tokenizers.pre_tokenizers import ByteLevel

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["h e", "l l", "he ll", "o w"]

TINY_ARGS = {
    "llama": dict(
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    ),
    "qwen2": dict(
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        rope_theta=1e6,
        max_position_embeddings=256,
        tie_word_embeddings=False,
    ),
    "gemma3_text": dict(
        hidden_size=64,
        num_hidden_layers=6,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        rms_norm_eps=1e-6,
        rope_theta=1e6,
        rope_local_base_freq=10000.0,
        query_pre_attn_scalar=32,
        sliding_window=8,
        sliding_window_pattern=6,
        max_position_embeddings=256,
    ),
}
GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "gemma3_text": "gemma3"}


def vocabulary() -> list[str]:
    byte_chars = sorted(ByteLevel.alphabet())
    return byte_chars + [m.replace(" ", "") for m in MERGES] + SPECIALS


def tiny_model(model_type: str, seed: int = 0, **overrides):
    """A random-weight mlx-lm model of `model_type` (HF weight layout), in float32."""
    module = importlib.import_module(f"mlx_lm.models.{model_type}")
    args = {**TINY_ARGS[model_type], **overrides}
    args = module.ModelArgs.from_dict(
        {"model_type": model_type, "vocab_size": len(vocabulary()), **args}
    )
    mx.random.seed(seed)
    model = module.Model(args)
    # random norm weights, so that a missing norm offset cannot go unnoticed
    params = [
        (k, mx.random.uniform(0.5, 1.5, v.shape) if "norm" in k else v)
        for k, v in tree_flatten(model.parameters())
    ]
    model.load_weights(params)
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row permutation for interleaved RoPE (convert_hf_to_gguf)."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_gguf(
    model,
    path: Path,
    model_type: str,
    types: dict[str, gguf.GGMLQuantizationType] | None = None,
    arch: str | None = None,
    quantize=None,
) -> dict[str, np.ndarray]:
    """Write `model` to `path` as llama.cpp would; returns the GGUF tensors written (as stored).

    `arch` overrides the architecture named in the metadata (tensors stay `model_type`'s).
    `types` maps a GGUF tensor name to its quantization type (default F32); `quantize`
    turns (array, type) into stored bytes, defaulting to gguf-py's reference quantizer.
    """
    args = model.args
    writer = gguf.GGUFWriter(str(path), arch or GGUF_ARCH[model_type])
    writer.add_block_count(args.num_hidden_layers)
    writer.add_context_length(args.max_position_embeddings)
    writer.add_embedding_length(args.hidden_size)
    writer.add_feed_forward_length(args.intermediate_size)
    writer.add_head_count(args.num_attention_heads)
    writer.add_head_count_kv(args.num_key_value_heads)
    writer.add_layer_norm_rms_eps(args.rms_norm_eps)
    writer.add_rope_freq_base(args.rope_theta)
    if model_type == "gemma3_text":
        writer.add_key_length(args.head_dim)
        writer.add_value_length(args.head_dim)
        writer.add_sliding_window(args.sliding_window)
    tokens = vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_chat_template(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    )

    names = gguf.get_tensor_name_map(
        next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == GGUF_ARCH[model_type]),
        args.num_hidden_layers,
    )
    stored = {}
    for name, value in tree_flatten(model.parameters()):
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        w = np.array(value, dtype=np.float32)
        if model_type == "llama" and "q_proj" in name:
            w = llama_permute(w, args.num_attention_heads)
        elif model_type == "llama" and "k_proj" in name:
            w = llama_permute(w, args.num_key_value_heads)
        if model_type == "gemma3_text" and "norm" in name:
            w = w + 1.0
        qtype = (types or {}).get(gguf_name, gguf.GGMLQuantizationType.F32)
        data = (quantize or gguf.quants.quantize)(w, qtype)
        writer.add_tensor(gguf_name, data, raw_dtype=qtype)
        stored[gguf_name] = data
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored
