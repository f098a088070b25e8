"""`hebbian chat` and `hebbian bench engine`: plain typer functions, registered by the CLI.

Heavy imports stay inside the functions. User errors end as the CLI's do: one line on stderr, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .config import MODES

def _cli():
    """The CLI's consoles and error helpers (imported late: the CLI imports this module)."""
    from .. import cli

    return cli


def _config(**overrides):
    from .config import EngineConfig

    try:
        return EngineConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        _cli().fail(str(e))


def _engine(spec: str, config):
    from .engine import HebbianEngine

    cli = _cli()
    model, tokenizer = cli.load_model(spec)
    try:
        return HebbianEngine(model, tokenizer, config)
    except ValueError as e:
        cli.fail(str(e))


MODE = typer.Option(None, "--mode", help=f"What evicted tokens become: {', '.join(MODES)} (default: memory).")
MODEL = typer.Option("default", "--model", "-m", help="default, an optional model name, a .gguf file, an mlx-lm dir or a HF repo id.")
WINDOW = typer.Option(None, "--window", min=1, help="Recent tokens kept per layer besides the sinks (default 1020).")


def chat(
    model: str = MODEL,
    window: Optional[int] = WINDOW,
    sinks: Optional[int] = typer.Option(None, "--sinks", min=0, help="First tokens never evicted (default 4)."),
    mode: Optional[str] = MODE,
    memory: Optional[Path] = typer.Option(None, "--memory", dir_okay=False,
                                          help="Load the consolidated memory from FILE if it exists (and, without "
                                               "--mode, its mode); save it there at exit."),
    max_tokens: int = typer.Option(512, "--max-tokens", "-n", min=1, help="Most tokens per reply."),
    temp: float = typer.Option(0.0, "--temp", min=0.0, help="Sampling temperature; 0 is greedy."),
) -> None:
    """Chat with a model that consolidates what leaves its window. Type /help for commands.

    With stdin not a terminal, each input line is one turn (or command): echo "hi" | hebbian chat
    """
    from .chat import ChatSession
    from .state import StateFileError, read_state

    cli = _cli()
    keep = "(not overwriting it; move it away or pick another --memory file)"
    if mode is None and memory is not None and memory.exists():
        try:  # continue in the mode the memory was made in
            mode = read_state(memory)[1].get("config", {}).get("mode")
        except StateFileError as e:
            cli.fail(f"{e} {keep}")
    engine = _engine(model, _config(window=window, n_sink=sinks, mode=mode))
    if memory is not None and memory.exists():
        try:
            engine.load(memory)
        except StateFileError as e:
            cli.fail(f"{e} {keep}")
        cli.err.print(f"memory loaded from {memory}", highlight=False)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    session = ChatSession(engine, cli.console, cli.err, write, max_tokens, temp, memory)
    interactive = sys.stdin.isatty()
    if interactive:
        cli.err.print(f"[dim]{model}, mode {engine.config.mode}, window {engine.config.capacity} tokens; "
                  "/help for commands, /quit to leave[/]", highlight=False)
    try:
        for line in _lines(interactive):
            if not session.handle(line):
                break
    finally:
        if memory is not None:
            session.save(memory)


def _lines(interactive: bool):
    """Input lines: prompted from a terminal (Ctrl-C there only clears the line), else stdin's."""
    if not interactive:
        yield from sys.stdin
        return
    cli = _cli()
    while True:
        try:
            yield cli.console.input("[bold]you>[/] ")
        except KeyboardInterrupt:
            cli.err.print("\n(type /quit to leave)")
        except EOFError:
            return


def bench_engine(
    model: str = MODEL,
    context: int = typer.Option(1024, "--context", min=2, help="Prompt tokens for the main figures."),
    long: bool = typer.Option(False, "--long", help="Also measure at --long-context tokens (slow on a CPU)."),
    long_context: int = typer.Option(8192, "--long-context", min=2, help="Prompt tokens for the long figures."),
    decode: int = typer.Option(64, "--decode", min=2, help="Tokens generated per measurement."),
    window: Optional[int] = WINDOW,
    repeats: int = typer.Option(2, "--repeats", min=1, help="Runs per contender, interleaved; the best counts."),
    passes: int = typer.Option(12, "--passes", min=1,
                               help="Paired decode blocks per mode for the verdict against the rotating cache."),
    block: int = typer.Option(32, "--block", min=1,
                              help="Tokens per paired block (rounded up to whole hand-over intervals)."),
) -> None:
    """Decode/prefill tokens/s and peak memory: plain mlx-lm (full and rotating cache) vs the engine in each mode.

    The decode verdict against the rotating cache comes from paired blocks (--passes, --block):
    each engine block timed between two rotating-cache blocks, the median ratio with its 95% CI.
    """
    from .bench import run_engine_bench

    cli = _cli()
    config = _config(window=window)
    net, tokenizer = cli.load_model(model)
    contexts = [context, long_context] if long else [context]
    run_engine_bench(cli.console, net, tokenizer, config, contexts, decode, repeats, passes, block)
