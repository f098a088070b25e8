"""The one error type a study shows its user: a list of one-line messages, no traceback."""

from __future__ import annotations

from collections.abc import Sequence


class StudyError(Exception):
    """A study that cannot go on as asked; ``lines`` are the messages, one line each."""

    def __init__(self, lines: str | Sequence[str]):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))
