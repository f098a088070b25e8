"""Build an mlx-lm model from a GGUF file.

The file's metadata gives the architecture and its hyper-parameters; each supported
architecture is one row of `ARCHITECTURES` saying which mlx-lm model class to build, how
GGUF keys map to that class's config and what the converter did to the weights. Tensor
names come from gguf-py's own name map (Hugging Face name -> GGUF name), inverted.

Every quantized tensor is dequantized with `gguf.quants.dequantize`, the reference
implementation. `mx.load` reads GGUF too, but only the legacy types, rounds their
dequantized values to float16 and returns silently wrong values for K-quants, so this
module never uses it for weights.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

GGUF_MAGIC = b"GGUF"


class GGUFError(ValueError):
    """A GGUF file this loader cannot turn into a model (the message says why)."""


def _config_keys(**extra: str) -> dict[str, str]:
    """mlx-lm config field -> GGUF metadata key (without the `<arch>.` prefix)."""
    return {
        "hidden_size": "embedding_length",
        "num_hidden_layers": "block_count",
        "intermediate_size": "feed_forward_length",
        "num_attention_heads": "attention.head_count",
        "num_key_value_heads": "attention.head_count_kv",
        "rms_norm_eps": "attention.layer_norm_rms_epsilon",
        "rope_theta": "rope.freq_base",
        "max_position_embeddings": "context_length",
        "head_dim": "attention.key_length",
        **extra,
    }


@dataclass(frozen=True)
class Architecture:
    """How one GGUF architecture becomes an mlx-lm model."""

    model_type: str  # mlx_lm.models.<model_type>
    config_keys: dict[str, str]
    defaults: dict = field(default_factory=dict)  # config values GGUF does not store
    # llama.cpp's converter permutes Q/K rows of llama for interleaved ("traditional") RoPE
    rope_traditional: bool | None = None  # None: the model class has no such option
    norm_offset: float = 0.0  # GGUF stores gemma's RMSNorm weight as 1 + w


ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture("llama", _config_keys(), rope_traditional=True),
    "qwen2": Architecture("qwen2", _config_keys(), rope_traditional=False),
    "gemma3": Architecture(
        "gemma3_text",
        _config_keys(sliding_window="attention.sliding_window"),
        defaults={"rope_local_base_freq": 10000.0, "sliding_window_pattern": 6},
        norm_offset=1.0,
    ),
}


def is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == GGUF_MAGIC


def open_reader(path: Path):
    import gguf

    if not is_gguf(path):
        raise GGUFError(f"{path} is not a GGUF file (its first bytes are not 'GGUF')")
    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # gguf-py raises bare ValueError/struct errors on damage
        raise GGUFError(f"{path} is a damaged GGUF file ({e})") from e


def field_value(reader, key: str, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def architecture_of(reader) -> tuple[str, Architecture]:
    name = field_value(reader, "general.architecture")
    if name not in ARCHITECTURES:
        supported = ", ".join(sorted(ARCHITECTURES))
        raise GGUFError(
            f"GGUF architecture {name!r} is not supported (supported: {supported}); "
            "convert the model with mlx_lm.convert and pass its directory instead"
        )
    return name, ARCHITECTURES[name]


def model_config(reader) -> dict:
    """An mlx-lm config dict (as config.json would hold) from the GGUF metadata."""
    name, arch = architecture_of(reader)
    config = {"model_type": arch.model_type, **arch.defaults}
    for field_name, key in arch.config_keys.items():
        value = field_value(reader, f"{name}.{key}")
        if value is not None:
            config[field_name] = value
    config["vocab_size"] = field_value(
        reader, f"{name}.vocab_size", len(reader.fields["tokenizer.ggml.tokens"].data)
    )
    if arch.model_type == "gemma3_text":
        config.setdefault("query_pre_attn_scalar", config.get("head_dim", 256))
    if arch.rope_traditional is not None:
        config["rope_traditional"] = arch.rope_traditional
    names = {t.name for t in reader.tensors}
    config["tie_word_embeddings"] = "output.weight" not in names
    scaling = field_value(reader, f"{name}.rope.scaling.type")
    if scaling == "linear":
        config["rope_scaling"] = {
            "type": "linear",
            "factor": field_value(reader, f"{name}.rope.scaling.factor"),
        }
    elif scaling not in (None, "none") or "rope_freqs.weight" in names:
        warnings.warn(
            f"{name}: RoPE scaling ({scaling or 'rope_freqs tensor'}) is not reproduced; "
            "outputs are right within the original context length only",
            stacklevel=2,
        )
    return config


def dequantized(tensor) -> np.ndarray:
    """A GGUF tensor as float32 numpy, in the (rows, cols) layout mlx-lm expects."""
    import gguf

    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists ne0 first
    return np.asarray(data, dtype=np.float32).reshape(shape)


def tensor_name_map(arch_name: str, n_layers: int) -> Callable[[str], str | None]:
    import gguf

    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    names = gguf.get_tensor_name_map(arch, n_layers)
    return lambda hf_name: names.get_name(hf_name, try_suffixes=(".weight", ".bias"))


def build_model(model_type: str, config: dict) -> nn.Module:
    module = importlib.import_module(f"mlx_lm.models.{model_type}")
    model = module.Model(module.ModelArgs.from_dict(config))
    if config["tie_word_embeddings"] and "lm_head" in model:
        # classes without the config option (gemma3_text) tie by dropping the head
        model.tie_word_embeddings = True
        model.pop("lm_head")
    return model


def load_weights(model: nn.Module, reader, arch_name: str, dtype: mx.Dtype) -> None:
    arch = ARCHITECTURES[arch_name]
    tensors = {t.name: t for t in reader.tensors}
    to_gguf = tensor_name_map(arch_name, model.args.num_hidden_layers)
    weights = []
    for name, param in tree_flatten(model.parameters()):
        gguf_name = to_gguf(name)
        if gguf_name not in tensors:
            raise GGUFError(f"tensor {gguf_name or name!r} for {name} is missing from the file")
        value = dequantized(tensors[gguf_name])
        if arch.norm_offset and "norm" in name:
            value = value - arch.norm_offset
        if value.shape != param.shape:
            raise GGUFError(
                f"tensor {gguf_name} has shape {value.shape}, model expects {param.shape}"
            )
        weights.append((name, mx.array(value, dtype=dtype)))
    model.load_weights(weights)
    mx.eval(model.parameters())


def load_gguf(path: Path, dtype: mx.Dtype = mx.float32):
    """(model, tokenizer, config) from a GGUF file; weights in `dtype`."""
    from .gguf_tokenizer import build_tokenizer

    reader = open_reader(path)
    arch_name, arch = architecture_of(reader)
    config = model_config(reader)
    model = build_model(arch.model_type, config)
    load_weights(model, reader, arch_name, dtype)
    model.eval()
    return model, build_tokenizer(reader), config
