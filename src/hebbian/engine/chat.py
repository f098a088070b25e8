"""A chat session over a HebbianEngine: turns, slash commands, the status line.

The session owns the conversation (the messages the chat template renders; the engine feeds only
what is new each turn) and answers one input line at a time, writing the reply as it streams.
Input and output are the caller's: `hebbian chat` reads a terminal or piped lines.

Nothing a user does here loses the conversation or the memory: a failed /save or /load says why
in one line and the chat goes on, and /quit does not leave while the memory file could not be
written (a second /quit does).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .consolidation import modes
from .engine import HebbianEngine
from .state import StateFileError

HELP = """commands:
  /stats          where the engine stands (window, evictions, memory)
  /save [FILE]    save the consolidated memory (default: the --memory file)
  /load FILE      load a consolidated memory
  /reset [all]    start a new conversation; "all" also forgets the consolidated memory
  /mode NAME      switch consolidation mode ({modes}): starts afresh
  /help           this text
  /quit           leave (saving the memory to the --memory file, if given); so does Ctrl-D
Ctrl-C stops the current reply; during a long prompt it cancels the turn. A paste is one turn."""


def help_text() -> str:
    """/help's text, with the modes registered now."""
    return HELP.format(modes=", ".join(modes()))


class Interrupt:
    """Ctrl-C during one turn (installed as the SIGINT handler by `interruptible`).

    Until the reply's first token, while the prompt is fed chunk by chunk, it raises
    KeyboardInterrupt at once: the engine undoes the half-fed turn. Once tokens stream it only
    sets a flag, which the engine asks after each token, so the reply so far is kept.
    """

    def __init__(self):
        self.streaming = False
        self.hit = False

    def __call__(self, *_) -> None:
        if not self.streaming:
            raise KeyboardInterrupt
        self.hit = True

    def stop(self) -> bool:
        return self.hit


@contextmanager
def interruptible():
    """Within the block, Ctrl-C goes to the Interrupt it yields."""
    interrupt = Interrupt()
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


class ChatSession:
    def __init__(
        self,
        engine: HebbianEngine,
        console: Console,
        err: Console,
        write: Callable[[str], None],
        max_tokens: int,
        sampling: dict,
        memory: Path | None = None,
        system: str | None = None,
    ):
        """`sampling`: HebbianEngine.stream's sampler and logits_processors (or temp)."""
        self.engine, self.console, self.err, self.write = engine, console, err, write
        self.max_tokens, self.sampling, self.memory, self.system = (
            max_tokens,
            sampling,
            memory,
            system,
        )
        self.save_at_exit = True  # off once /mode leaves the --memory file's state behind
        self.quit_refused = False  # a /quit already refused because the memory could not be saved
        self.messages = self.opening()

    def opening(self) -> list[dict]:
        """A new conversation's messages: the system prompt, if any."""
        return [{"role": "system", "content": self.system}] if self.system else []

    def handle(self, line: str) -> bool:
        """Answer one input (a line, or a paste of several); False when the session should end."""
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
        try:
            with interruptible() as interrupt:
                for last in self.engine.stream(
                    self.messages, self.max_tokens, stop=interrupt.stop, **self.sampling
                ):
                    interrupt.streaming = True
                    pieces.append(last.text)
                    self.write(last.text)
        except KeyboardInterrupt:  # while the prompt was fed: the engine is back where it was
            self.messages.pop()
            self.err.print(
                f"[yellow](prompt stopped after {time.perf_counter() - start:.1f} s: the turn is "
                "cancelled, the conversation is as it was)[/]",
                highlight=False,
            )
            return
        self.write("\n")
        self.messages.append({"role": "assistant", "content": "".join(pieces)})
        if interrupt.hit:
            self.err.print("[yellow](reply stopped)[/]")
        self.status(last)

    def status(self, last) -> None:
        """One line after each reply: the engine's window and memory, then mlx_lm.chat's figures."""
        d = self.engine.diagnostics()
        reply = f"reply {last.generation_tokens} tok"
        if last.generation_tokens > 1:  # one token's rate would be measured over no time at all
            reply += f", {last.generation_tps:.1f} tok/s"
        if d["mode"] == "episodic":
            memory = f"episodic {d['blocks']} blocks, {d['memory_bytes'] / 1e6:.1f} MB, {d['blocks_read']} read"
        else:
            memory = d["mode"] if d["mode"] == "off" else f"{d['mode']} mass {d['mass']:.1f}"
        self.err.print(
            f"[dim]window {d['held']}/{d['capacity']} | evicted {d['evicted']} | "
            f"{memory} | prompt {last.prompt_tokens} tok, "
            f"{last.prompt_tps:.1f} tok/s | {reply} | peak {last.peak_memory:.2f} GB[/]",
            highlight=False,
        )

    def command(self, name: str, argument: str = "") -> bool:
        argument = argument.strip()
        if name in ("quit", "exit"):
            return not self.leave()
        if name == "help":
            self.console.print(help_text(), highlight=False, markup=False)
        elif name == "stats":
            self.stats()
        elif name == "save":
            self.save(Path(argument) if argument else self.memory)
        elif name == "load" and argument:
            self.load(Path(argument))
        elif name == "reset":
            self.messages = self.opening()
            self.engine.reset(keep_memory=argument != "all")
            self.err.print(
                "new conversation" + (", memory cleared" if argument == "all" else ", memory kept")
            )
        elif name == "mode" and argument in modes():
            self.switch(argument)
        else:
            self.err.print(
                f"[red]unknown or incomplete command /{name} {argument}[/] (try /help)",
                highlight=False,
            )
        return True

    def switch(self, mode: str) -> None:
        """A fresh engine in `mode`; the --memory file keeps its state unless /save replaces it.
        A mode that cannot run with this model or these settings leaves the chat as it was."""
        engine = self.engine
        try:
            self.engine = HebbianEngine(
                engine.model, engine.tokenizer, engine.config.replace(mode=mode)
            )
        except ValueError as e:
            self.err.print(
                f"[red]/mode {mode}: {escape(str(e))}[/] (still mode {engine.config.mode})",
                highlight=False,
            )
            return
        self.messages = self.opening()
        kept = ""
        if self.memory is not None and self.save_at_exit:
            self.save_at_exit = False
            kept = f"; {self.memory} keeps the {engine.config.mode} state it has (/save replaces it with this one)"
        self.err.print(f"mode {mode}: new conversation, empty memory{kept}", highlight=False)

    def stats(self) -> None:
        table = Table("", "value", title="engine")
        for key, value in self.engine.diagnostics().items():
            shown = (
                f"{value:,}"
                if isinstance(value, int)
                else f"{value:.4g}"
                if isinstance(value, float)
                else value
            )
            table.add_row(key, shown)
        self.console.print(table)

    def save(self, path: Path | None) -> bool:
        """Save the memory to `path`; False (and one line saying why) if that failed."""
        if path is None:
            self.err.print("[red]no file: /save FILE (or start with --memory FILE)[/]")
            return False
        try:
            self.engine.save(path)
        except StateFileError as e:
            self.err.print(f"[red]{e}[/]", highlight=False)
            return False
        if path == self.memory:
            self.save_at_exit = True
        self.err.print(f"memory saved to {path}", highlight=False)
        return True

    def save_memory(self) -> bool:
        """Save the memory to the --memory file, if there is one to save to; False if that failed."""
        return self.memory is None or not self.save_at_exit or self.save(self.memory)

    def leave(self) -> bool:
        """Whether the session may end: the memory is saved, or the user was told it is not."""
        if self.save_memory() or self.quit_refused:
            return True
        self.quit_refused = True
        self.err.print(
            "[yellow]still here, so that the memory is not lost: /save FILE keeps it elsewhere; "
            "/quit again leaves without it[/]",
            highlight=False,
        )
        return False

    def load(self, path: Path) -> None:
        try:
            self.engine.load(path)
        except StateFileError as e:
            self.err.print(f"[red]{e}[/]", highlight=False)
            return
        self.err.print(f"memory loaded from {path}", highlight=False)
