"""Markdown reports for the BDH experiments: a table helper and an atomic write (provenance
comes from `hebbian.provenance`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hebbian.provenance import markdown as provenance  # noqa: F401  (re-exported for the reports)


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
