"""Saving and loading an engine's consolidated state: one safetensors file.

The file holds the strategy's arrays and, as JSON metadata, the format, a fingerprint of the
model (sha256 of its configuration and of the attention weights of its first and last layers),
the engine's configuration and the count of tokens consolidated. Writes are atomic (hebbian.io's
`replacing`: a temporary file in the same folder, then os.replace), so a failed save leaves the
previous file as it was.
Loading checks everything before changing anything and reports any problem as one line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from ..io.files import replacing
from .config import EngineConfig

FORMAT = "hebbian-engine-state/1"
META_KEY = "hebbian"


class StateFileError(Exception):
    """A state file that cannot be loaded (or saved); the message is one line meant for the user."""


def fingerprint(model: nn.Module) -> str:
    digest = hashlib.sha256()
    args = getattr(model, "args", None)
    digest.update(
        json.dumps(vars(args) if args is not None else {}, sort_keys=True, default=str).encode()
    )
    for layer in (model.layers[0], model.layers[-1]):
        for name, x in tree_flatten(layer.parameters()):
            if "attn" in name:
                digest.update(name.encode())
                digest.update(
                    np.array(x.astype(mx.float32) if x.dtype == mx.bfloat16 else x).tobytes()
                )
    return digest.hexdigest()


def save_state(
    path: str | Path,
    arrays: dict[str, mx.array],
    config: EngineConfig,
    model_fingerprint: str,
    consolidated: int,
) -> None:
    path = Path(path)
    meta = {
        "format": FORMAT,
        "fingerprint": model_fingerprint,
        "config": config.to_dict(),
        "consolidated": consolidated,
    }
    try:
        # mx.save_safetensors appends ".safetensors" to other names: the temporary file has it
        with replacing(path, ".tmp.safetensors") as temporary:
            mx.save_safetensors(str(temporary), arrays, {META_KEY: json.dumps(meta)})
    except OSError as e:
        raise StateFileError(f"cannot write {path}: {e.strerror or e}") from e
    except RuntimeError as e:  # how MLX reports a file it cannot open or write
        reason = "no such folder" if not path.parent.is_dir() else str(e)
        raise StateFileError(f"cannot write {path}: {reason}") from e


def read_state(path: str | Path) -> tuple[dict[str, mx.array], dict]:
    """(arrays, metadata) of an engine state file, or StateFileError."""
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path}: no such file")
    try:
        arrays, metadata = mx.load(str(path), format="safetensors", return_metadata=True)
        meta = json.loads(metadata[META_KEY])
    except (RuntimeError, ValueError, KeyError) as e:
        reason = (
            "not an engine state file"
            if isinstance(e, KeyError)
            else "unreadable (truncated or corrupt?)"
        )
        raise StateFileError(f"{path}: {reason}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StateFileError(f"{path}: not an engine state file of format {FORMAT}")
    return arrays, meta


def load_state(
    path: str | Path, config: EngineConfig, model_fingerprint: str
) -> tuple[dict[str, mx.array], dict]:
    """(arrays, metadata) of a state file made for this model and mode, or StateFileError."""
    arrays, meta = read_state(path)
    if meta.get("fingerprint") != model_fingerprint:
        raise StateFileError(
            f"{path}: saved from a different model; load it with the model it was made with"
        )
    mode = meta.get("config", {}).get("mode")
    if mode != config.mode:
        raise StateFileError(
            f"{path}: holds {mode!r} state but the engine runs mode {config.mode!r}; "
            f"use mode {mode!r} to load it"
        )
    return arrays, meta
