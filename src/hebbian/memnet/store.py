"""Per-seed result files under runs/memnet/<task>/seed_<n>.json: atomic, resumable, checked.

A seed's file is written once, when all its variants are done, so an interrupted run
leaves either a complete file or none. Every file carries the settings it ran with; a
later run with other settings is refused instead of mixing incomparable seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

from hebbian.io.files import write_atomic

DEFAULT_ROOT = Path("runs/memnet")


class SettingsMismatch(ValueError):
    """The directory holds seeds that ran with different settings."""


def seed_path(root: Path, task: str, seed: int) -> Path:
    return Path(root) / task / f"seed_{seed}.json"


def load_seeds(root: Path, task: str) -> list[dict]:
    """Every completed seed of ``task``, in seed order."""
    files = sorted((Path(root) / task).glob("seed_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(p.read_text()) for p in files]


def check_settings(root: Path, task: str, settings: dict) -> None:
    """Raise SettingsMismatch if a stored seed of ``task`` ran with other settings."""
    for result in load_seeds(root, task):
        if result["settings"] != settings:
            changed = sorted(
                k
                for k in settings.keys() | result["settings"].keys()
                if settings.get(k) != result["settings"].get(k)
            )
            raise SettingsMismatch(
                f"{Path(root) / task} holds seeds run with other settings ({', '.join(changed)}); "
                "delete it or pass another --runs-dir"
            )


def is_done(root: Path, task: str, seed: int) -> bool:
    return seed_path(root, task, seed).exists()


def save_seed(root: Path, task: str, seed: int, result: dict) -> Path:
    """Write one seed's results atomically: a complete file or none."""
    path = seed_path(root, task, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, json.dumps(result, separators=(",", ":")))
