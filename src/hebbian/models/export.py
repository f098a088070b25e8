"""Write a loaded model as a plain mlx-lm directory (config.json, safetensors, tokenizer).

Lets anything that speaks mlx-lm (its CLI, `mlx_lm.load`, our benchmarks' "plain mlx-lm"
baseline) use a model this package loaded from GGUF.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlx.nn as nn


def export_mlx_dir(model: nn.Module, tokenizer, path: Path) -> Path:
    from mlx_lm.utils import save_config, save_model

    path = Path(path)
    save_model(path, model)
    config = {k: v for k, v in dataclasses.asdict(model.args).items() if v is not None}
    save_config(config, path / "config.json")
    tokenizer._tokenizer.save_pretrained(str(path))
    return path
