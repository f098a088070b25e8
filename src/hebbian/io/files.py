"""Atomic writes: a reader (or a crash) sees a file's old contents or its new ones, never a part.

API: ``replacing(path, suffix=".tmp")`` yields a temporary path in the same folder; when the block
ends without an error the temporary file is flushed to disk and renamed over ``path``, otherwise
it is deleted and ``path`` is left as it was. ``write_atomic(path, data)`` writes bytes or text
that way. ``fsync_folder(folder)`` makes a file's new name durable (for files appended in place).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (ending in ``suffix``, for writers that need one),
    then fsync it and ``os.replace`` it onto ``path``; on an error, delete it and re-raise."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        yield temporary
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_folder(path.parent)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Replace ``path``'s contents by ``data`` (text is written as UTF-8) in one step; return it."""
    path = Path(path)
    with replacing(path) as temporary:
        temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def fsync_folder(folder: Path) -> None:
    """Make a new or renamed entry of ``folder`` durable (POSIX; a no-op where folders cannot be
    opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
