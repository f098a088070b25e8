"""Markdown reports for the BDH experiments: provenance (git revision, package versions,
platform), a table helper, and an atomic write."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("mlx", "numpy", "scipy", "statsmodels", "matplotlib")


def git_revision() -> str:
    """HEAD of the source checkout, marked when the tree has uncommitted changes."""
    here = Path(__file__).parent

    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10,
                                 check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    rev = git("rev-parse", "HEAD")
    if rev is None:
        return "unknown (not a git checkout)"
    return f"{rev} + uncommitted changes" if git("status", "--porcelain") else rev


def provenance() -> str:
    """A markdown section saying what produced the numbers."""
    import mlx.core as mx

    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return "\n".join([
        "## Provenance", "",
        f"- git revision: `{git_revision()}`",
        f"- packages: {', '.join(versions)}",
        f"- Python {sys.version.split()[0]} on {platform.platform()}, MLX device {mx.default_device()}",
    ])


def config_block(title: str, config: dict) -> str:
    return f"**{title}**\n\n```json\n{json.dumps(config, indent=2, default=str)}\n```"


def table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write(path: str | Path, sections: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n\n".join(s.strip() for s in sections) + "\n")
    os.replace(tmp, path)
    return path
