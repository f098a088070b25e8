"""Where a MemNet result came from, in the flat form stored with each seed's JSON."""

from __future__ import annotations

from hebbian import provenance


def describe() -> dict:
    """{'git': revision, 'packages': 'name version, ...'} from `hebbian.provenance`."""
    info = provenance.snapshot()
    return {
        "git": info["git"],
        "packages": ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
    }
