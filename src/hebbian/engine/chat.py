"""A chat session over a HebbianEngine: turns, slash commands, the status line.

The session owns the conversation (the messages the chat template renders; the engine feeds only
what is new each turn) and answers one input line at a time, writing the reply as it streams.
Input and output are the caller's: `hebbian chat` reads a terminal or piped lines.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .config import MODES
from .engine import HebbianEngine
from .state import StateFileError

HELP = """commands:
  /stats          where the engine stands (window, evictions, memory)
  /save [FILE]    save the consolidated memory (default: the --memory file)
  /load FILE      load a consolidated memory
  /reset [all]    start a new conversation; "all" also forgets the consolidated memory
  /mode NAME      switch consolidation mode (off, rank1, association, memory, slots): starts afresh
  /help           this text
  /quit           leave (saving the memory to the --memory file, if given)
Ctrl-C stops the current reply."""


@contextmanager
def interruptible():
    """Within the block, Ctrl-C sets a flag (returned as a callable) instead of raising."""
    hit = []
    previous = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, previous)


class ChatSession:
    def __init__(self, engine: HebbianEngine, console: Console, err: Console, write: Callable[[str], None],
                 max_tokens: int, temp: float, memory: Path | None = None):
        self.engine, self.console, self.err, self.write = engine, console, err, write
        self.max_tokens, self.temp, self.memory = max_tokens, temp, memory
        self.messages: list[dict] = []

    def handle(self, line: str) -> bool:
        """Answer one input line; False when the session should end."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self.command(*line[1:].split(maxsplit=1))
        self.reply(line)
        return True

    def reply(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})
        pieces, last, start = [], None, time.perf_counter()
        with interruptible() as stopped:
            for last in self.engine.stream(self.messages, self.max_tokens, self.temp, stop=stopped):
                pieces.append(last.text)
                self.write(last.text)
            interrupted = stopped()
        self.write("\n")
        self.messages.append({"role": "assistant", "content": "".join(pieces)})
        if interrupted:
            self.err.print("[yellow](reply stopped)[/]")
        self.status(last, time.perf_counter() - start)

    def status(self, last, seconds: float) -> None:
        d = self.engine.diagnostics()
        speed = f"{last.generation_tps:.1f} tok/s" if last is not None else f"{seconds:.1f} s"
        self.err.print(f"[dim]window {d['held']}/{d['capacity']} | evicted {d['evicted']} | "
                       f"{d['mode']} mass {d['mass']:.1f} | {speed}[/]", highlight=False)

    def command(self, name: str, argument: str = "") -> bool:
        argument = argument.strip()
        if name in ("quit", "exit"):
            return False
        if name == "help":
            self.console.print(HELP, highlight=False, markup=False)
        elif name == "stats":
            self.stats()
        elif name == "save":
            self.save(Path(argument) if argument else self.memory)
        elif name == "load" and argument:
            self.load(Path(argument))
        elif name == "reset":
            self.messages = []
            self.engine.reset(keep_memory=argument != "all")
            self.err.print("new conversation" + (", memory cleared" if argument == "all" else ", memory kept"))
        elif name == "mode" and argument in MODES:
            engine = self.engine
            self.engine = HebbianEngine(engine.model, engine.tokenizer, replace(engine.config, mode=argument))
            self.messages = []
            self.err.print(f"mode {argument}: new conversation, empty memory")
        else:
            self.err.print(f"[red]unknown or incomplete command /{name} {argument}[/] (try /help)", highlight=False)
        return True

    def stats(self) -> None:
        table = Table("", "value", title="engine")
        for key, value in self.engine.diagnostics().items():
            shown = f"{value:,}" if isinstance(value, int) else f"{value:.4g}" if isinstance(value, float) else value
            table.add_row(key, shown)
        self.console.print(table)

    def save(self, path: Path | None) -> None:
        if path is None:
            self.err.print("[red]no file: /save FILE (or start with --memory FILE)[/]")
            return
        try:
            self.engine.save(path)
        except StateFileError as e:
            self.err.print(f"[red]{e}[/]", highlight=False)
            return
        self.err.print(f"memory saved to {path}", highlight=False)

    def load(self, path: Path) -> None:
        try:
            self.engine.load(path)
        except StateFileError as e:
            self.err.print(f"[red]{e}[/]", highlight=False)
            return
        self.err.print(f"memory loaded from {path}", highlight=False)
