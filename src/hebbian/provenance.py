"""What produced a result: git revision of the code and versions of the packages behind the numbers.

Shared by the studies and the research modules, so every report states its provenance the same way.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import hebbian

PACKAGES = ("mlx", "mlx-lm", "numpy", "scipy", "statsmodels", "matplotlib", "hebbian")


def package_versions() -> dict[str, str]:
    """Installed version of each package in PACKAGES ('not installed' when absent)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = (
                hebbian.__version__ + " (source tree)" if name == "hebbian" else "not installed"
            )
    return versions


# What decides a result: the code, the experiment scripts, the pre-registrations and the package
# metadata. Reports and run outputs are written by the runs themselves, so a report made before
# it is committed must not call its own code dirty.
SOURCES = (":/src", ":/experiments", ":/prereg", ":/pyproject.toml")


def _git(*args: str, where: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=where or Path(hebbian.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_revision(where: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the hebbian source (or of the checkout at `where`), with
    '+ uncommitted changes' when anything in SOURCES differs from it, or 'unknown'."""
    revision = _git("rev-parse", "HEAD", where=where)
    if revision is None:
        return "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--", *SOURCES, where=where)
    return f"{revision} + uncommitted changes" if dirty else revision


def snapshot() -> dict[str, object]:
    """Everything above plus the Python version and platform, as stored in a run's sessions."""
    return {
        "git": git_revision(),
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def markdown() -> str:
    """A report's "Provenance" section."""
    import mlx.core as mx

    info = snapshot()
    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    return "\n".join(
        [
            "## Provenance",
            "",
            f"- git revision: `{info['git']}`",
            f"- packages: {versions}",
            f"- Python {info['python']} on {info['platform']}, MLX device {mx.default_device()}",
        ]
    )
