"""The SAE reports' provenance section: `hebbian.provenance` plus the run's config, seeds and time."""

from __future__ import annotations

import datetime as dt

from hebbian import provenance


def markdown(config: dict, seeds: str, elapsed_s: float) -> str:
    """A 'Provenance' section: config, seeds, git revision, versions, platform, date, run time."""
    from .. import runtime

    info = provenance.snapshot()
    lines = [
        "## Provenance",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- git revision: `{info['git']}`",
        f"- seeds: {seeds}",
        f"- platform: {info['platform']}, python {info['python']}, MLX backend {runtime.backend()}",
        f"- run time: {elapsed_s:.0f} s",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
        "Config:",
        "",
        "```",
    ]
    lines += [f"{k} = {v!r}" for k, v in config.items()]
    return "\n".join(lines + ["```", ""])
