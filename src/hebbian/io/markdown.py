"""Markdown tables for reports: ``table(header, rows, cell=str, align=None) -> str``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

RULES = {"l": "---", "r": "---:", "c": ":---:"}


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    cell: Callable[[object], str] = str,
    align: str | None = None,
) -> str:
    """A markdown table, one line per row; ``cell`` formats each value, a ``|`` in it is escaped.

    ``align`` gives one letter per column, ``l``, ``r`` or ``c`` (default: all left)."""
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [line(list(header)), "|" + "".join(RULES[a] + "|" for a in align)]
    lines += [line([cell(v) for v in row]) for row in rows]
    return "\n".join(lines)
