"""`hebbian chat` and `hebbian bench engine`: plain typer functions, registered by the CLI.

Heavy imports stay inside the functions. Output, user errors (one line on stderr, exit 2), warnings
and model loading go through hebbian.io, as every command's do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..io.console import err, fail, out, warn
from ..io.loading import load_model
from .consolidation import modes, strategy_class

KEEP = "(not overwriting it; move it away or pick another --memory file)"


def _config(**overrides):
    from .config import EngineConfig

    try:
        return EngineConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        fail(str(e))


def _engine(spec: str, config):
    from .engine import HebbianEngine

    model, tokenizer = load_model(spec)
    try:
        return HebbianEngine(model, tokenizer, config)
    except ValueError as e:
        fail(str(e))


MODE = typer.Option(
    None,
    "--mode",
    help="What evicted tokens become: "
    + "; ".join(f"{m} ({strategy_class(m).summary})" for m in modes())
    + ". Default: off (in the committed studies no mode yet helps without hurting: "
    "reports/needle-reading.md).",
)
MODEL = typer.Option(
    "default",
    "--model",
    "-m",
    help="default, an optional model name, a .gguf file, an mlx-lm dir or a HF repo id.",
)
WINDOW = typer.Option(
    None, "--window", min=1, help="Recent tokens kept per layer besides the sinks (default 1020)."
)
SMALL_WINDOW = 64  # below this a chat's window holds less than a turn usually takes


def chat(
    model: str = typer.Option(
        "default",
        "--model",
        "-m",
        help="default, an optional model name, a .gguf file, an mlx-lm dir or a HF repo id. "
        "-m is --model, as in every hebbian command (mlx_lm.chat's -m is --max-tokens).",
    ),
    temp: float = typer.Option(0.0, "--temp", min=0.0, help="Sampling temperature; 0 is greedy."),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0, help="Sampling top-p."),
    seed: int = typer.Option(0, "--seed", help="PRNG seed."),
    prefill_step_size: int | None = typer.Option(
        None,
        "--prefill-step-size",
        min=1,
        help="Number of prompt tokens to process at a time (default 512); Ctrl-C stops a prompt between steps.",
    ),
    max_tokens: int = typer.Option(
        256, "--max-tokens", "-n", min=1, help="Maximum number of tokens to generate per reply."
    ),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", help="System prompt to be used for the chat template."
    ),
    repetition_penalty: float = typer.Option(
        1.1,
        "--repetition-penalty",
        min=1.0,
        help="Divide the odds of the last 20 tokens by this (mlx-lm's repetition penalty; 1 is off). "
        "Small models loop without it.",
    ),
    window: int | None = typer.Option(
        None,
        "--window",
        min=1,
        help="Recent tokens kept per layer besides the sinks (default 1020); mlx_lm.chat's --max-kv-size is "
        "--window plus --sinks.",
    ),
    sinks: int | None = typer.Option(
        None, "--sinks", min=0, help="First tokens never evicted (default 4)."
    ),
    mode: str | None = MODE,
    memory: Path | None = typer.Option(
        None,
        "--memory",
        dir_okay=False,
        help="Load the consolidated memory from FILE if it exists, with the settings it was saved with "
        "(mode, window, sinks... unless given here); save it there at exit.",
    ),
) -> None:
    """Chat with a model that consolidates what leaves its window. Type /help for commands.

    Options that mlx_lm.chat also has mean the same here, except -m (--model here).

    Not here yet: mlx_lm.chat's --xtc-probability, --xtc-threshold, --adapter-path.

    With stdin not a terminal, each input line is one turn (or command): echo "hi" | hebbian chat
    """
    import mlx.core as mx
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    from .chat import ChatSession
    from .state import StateFileError

    if model.isdigit():
        fail(
            f"-m {model}: -m is --model in hebbian (mlx_lm.chat's -m is --max-tokens); "
            f"for replies of {model} tokens use --max-tokens {model}"
        )
    given = {
        k: v
        for k, v in dict(
            window=window, n_sink=sinks, mode=mode, prefill_chunk=prefill_step_size
        ).items()
        if v is not None
    }
    saved = _saved_settings(memory) if memory is not None else {}
    config = _config(**{**saved, **given})
    _warn_about(config)
    engine = _engine(model, config)
    if memory is not None and memory.exists():
        try:
            engine.load(memory)
        except StateFileError as e:
            fail(f"{e} {KEEP}")
        err.print(
            f"memory loaded from {memory} (mode {config.mode}, window {config.window}, "
            f"sinks {config.n_sink})",
            highlight=False,
        )
        for key, value in given.items():
            if key in saved and saved[key] != value and key != "mode":
                warn(
                    f"{memory} was saved with {key} {saved[key]}; this session runs {key} {value}, "
                    "and the file will say so once saved"
                )

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    mx.random.seed(seed)
    sampling = {
        "sampler": make_sampler(temp, top_p),
        "logits_processors": make_logits_processors(repetition_penalty=repetition_penalty),
    }
    session = ChatSession(engine, out, err, write, max_tokens, sampling, memory, system_prompt)
    interactive = sys.stdin.isatty()
    if interactive:
        err.print(
            f"[dim]{model}, mode {engine.config.mode}, window {engine.config.capacity} tokens; "
            "/help for commands, /quit to leave[/]",
            highlight=False,
        )
    try:
        left = any(
            not session.handle(line) for line in (_terminal_lines() if interactive else sys.stdin)
        )
    except BaseException:
        session.save_memory()  # whatever went wrong, the memory is kept
        raise
    if not left and not session.save_memory():  # the input ran out: save, as /quit does
        raise typer.Exit(1)


def _saved_settings(memory: Path) -> dict:
    """The engine settings a --memory file was saved with ({} for a new file, whose folder must be
    writable: found out now, not when the session ends)."""
    from .config import EngineConfig
    from .state import StateFileError, read_state

    folder = memory.parent
    if not folder.is_dir():
        fail(f"--memory {memory}: no folder {folder}; create it or pick another file")
    if not os.access(folder, os.W_OK):
        fail(f"--memory {memory}: cannot write in {folder}; pick another file")
    if not memory.exists():
        return {}
    try:
        saved = read_state(memory)[1].get("config", {})
    except StateFileError as e:
        fail(f"{e} {KEEP}")
    names = EngineConfig.names()
    return {k: v for k, v in saved.items() if k in names}


def _warn_about(config) -> None:
    """Settings that run but make a poor chat: one warning line each."""
    if config.n_sink == 0:
        warn(
            "0 sinks: with no attention sinks the model's output falls apart once the window starts to "
            "evict (StreamingLLM); the default --sinks is 4"
        )
    if config.window < SMALL_WINDOW:
        warn(
            f"window {config.window}: fewer tokens than a turn usually takes; the model sees only the last "
            f"{config.window} of the chat (try --window 256 or more)"
        )


def _terminal_lines():
    """Inputs typed at a terminal, read by prompt_toolkit: no length limit (the terminal's own line
    mode stops at 4095 characters), a paste with newlines is one input, arrows recall history.
    Ctrl-C clears the line; Ctrl-D is /quit."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import HTML

    prompt = PromptSession()
    while True:
        try:
            yield prompt.prompt(HTML("<b>you&gt;</b> "))
        except KeyboardInterrupt:
            err.print("(type /quit to leave)")
        except EOFError:
            yield "/quit"


def bench_engine(
    model: str = MODEL,
    context: int = typer.Option(
        1024, "--context", min=2, help="Prompt tokens for the main figures."
    ),
    long: bool = typer.Option(
        False, "--long", help="Also measure at --long-context tokens (slow on a CPU)."
    ),
    long_context: int = typer.Option(
        8192, "--long-context", min=2, help="Prompt tokens for the long figures."
    ),
    decode: int = typer.Option(64, "--decode", min=2, help="Tokens generated per measurement."),
    window: int | None = WINDOW,
    repeats: int = typer.Option(
        2, "--repeats", min=1, help="Runs per contender, interleaved; the best counts."
    ),
    passes: int = typer.Option(
        12,
        "--passes",
        min=1,
        help="Paired decode blocks per mode for the verdict against the rotating cache.",
    ),
    block: int = typer.Option(
        32,
        "--block",
        min=1,
        help="Tokens per paired block (rounded up to whole hand-over intervals).",
    ),
) -> None:
    """Decode/prefill tokens/s and peak memory: plain mlx-lm (full and rotating cache) vs the engine in each mode.

    The decode verdict against the rotating cache comes from paired blocks (--passes, --block):
    each engine block timed between two rotating-cache blocks, the median ratio with its 95% CI.
    """
    from .bench import run_engine_bench

    config = _config(window=window)
    net, tokenizer = load_model(model)
    contexts = [context, long_context] if long else [context]
    run_engine_bench(out, net, tokenizer, config, contexts, decode, repeats, passes, block)
