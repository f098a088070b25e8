"""The BDH reports' own pieces: a config block, tables with compact numbers, the page write.

Tables, atomic writes and the provenance section come from ``hebbian.io``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hebbian.io import markdown
from hebbian.io.files import write_atomic


def config_block(title: str, config: dict) -> str:
    return f"**{title}**\n\n```json\n{json.dumps(config, indent=2, default=str)}\n```"


def cell(value: object) -> str:
    """Floats to four significant digits, anything else as it prints."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list]) -> str:
    return markdown.table(header, rows, cell=cell)


def write(path: str | Path, sections: list[str]) -> Path:
    """The sections, a blank line apart, written atomically to ``path`` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, "\n\n".join(s.strip() for s in sections) + "\n")
