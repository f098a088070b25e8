"""What produced a result, in one shape for every report and run record.

API: ``snapshot()`` -> {"git", "versions", "python", "platform"} (what runs store with their
results); ``git_revision(where=None)``; ``package_versions()``; ``packages(versions)`` (the
"name version, ..." line); ``markdown(details=None, config=None)`` (a report's "Provenance"
section, with the run's own details, such as seeds or run time, and its config).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import hebbian

PACKAGES = ("mlx", "mlx-lm", "numpy", "scipy", "statsmodels", "matplotlib", "hebbian")

# What decides a result: the code, the experiment scripts, the pre-registrations and the package
# metadata. Reports and run outputs are written by the runs themselves, so a report made before
# it is committed must not call its own code dirty.
SOURCES = (":/src", ":/experiments", ":/prereg", ":/pyproject.toml")


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


def packages(versions: Mapping[str, str]) -> str:
    """'mlx 0.29.0, mlx-lm 0.28.0, ...': a snapshot's versions on one line."""
    return ", ".join(f"{name} {version}" for name, version in versions.items())


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
    """The git revision, package versions, Python version and platform, as runs store them."""
    return {
        "git": git_revision(),
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def markdown(details: Mapping[str, object] | None = None, config: Mapping | None = None) -> str:
    """A report's "Provenance" section: the snapshot and the MLX backend, then one line per entry
    of ``details`` (seeds, run time, ...) and, when given, the config, one ``key = value`` a line."""
    from hebbian import runtime

    info = snapshot()
    lines = [
        "## Provenance",
        "",
        f"- git revision: `{info['git']}`",
        f"- packages: {packages(info['versions'])}",
        f"- Python {info['python']} on {info['platform']}, MLX backend {runtime.backend()}",
    ]
    lines += [f"- {name}: {value}" for name, value in (details or {}).items()]
    if config is not None:
        lines += ["", "Config:", "", "```", *(f"{k} = {v!r}" for k, v in config.items()), "```"]
    return "\n".join(lines)
