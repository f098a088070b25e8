"""Typer command functions for `hebbian bdh train|protocol|scaffold`.

Plain functions: the main app registers them (``bdh_app.command("train")(commands.train)``).
Heavy imports stay inside the commands so that ``hebbian --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from hebbian.io.console import err, fail, progress_bar


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """Yield ``start(description, total) -> advance()``, the runs' progress callback: one bar
    per stage."""
    with progress_bar() as bars:

        def start(description: str, total: int) -> Callable[[], None]:
            task = bars.add_task(description, total=total)
            return lambda: bars.advance(task)

        yield start


def train(
    scale: str = typer.Option(
        "cpu",
        "--scale",
        help="Preset: cpu (minutes on 2 cores), gpu (the reference's 12.7M model), tiny (tests).",
    ),
    steps: int = typer.Option(
        0, "--steps", min=0, help="Override the preset's number of steps (0 keeps it)."
    ),
    seed: int = typer.Option(1337, "--seed", help="Seed for initialization, batches and sampling."),
    checkpoint: Path = typer.Option(
        Path("runs/bdh/baseline"), "--checkpoint", help="Where to save the trained model."
    ),
    out: Path = typer.Option(
        Path("reports/bdh"), "--out", help="Folder for train.md and its figure."
    ),
) -> None:
    """Train BDH on byte-level Shakespeare; report validation loss against nanoGPT's baselines."""
    from . import baseline

    if scale not in baseline.PRESETS:
        fail(f"unknown scale {scale!r}; choose one of {', '.join(baseline.PRESETS)}")
    with progress_bars() as start:
        s = baseline.run(
            scale, steps or None, seed, checkpoint_dir=checkpoint, report_dir=out, progress=start
        )
    err.print(
        f"validation loss {s['val_loss']:.3f} nats/byte after {s['steps']} steps "
        f"({s['tokens'] / 1e6:.2f}M bytes, {s['train_wall_s'] / 60:.1f} min); report: {out / 'train.md'}"
    )


def protocol(
    scale: str = typer.Option(
        "cpu",
        "--scale",
        help="Preset: cpu (minutes on 2 cores), gpu (longer phases, larger sweep), tiny (tests).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for models, streams and the Hebbian layer."),
    out: Path = typer.Option(
        Path("reports/bdh"), "--out", help="Folder for protocol.md and figures R1-R7."
    ),
) -> None:
    """The three-phase memory protocol (acquire 'Zypher', learn 'Zyphrex', persist) with figures R1-R7."""
    from . import protocol as proto
    from . import protocol_report

    if scale not in proto.PRESETS:
        fail(f"unknown scale {scale!r}; choose one of {', '.join(proto.PRESETS)}")
    with progress_bars() as start:
        main, sweep = proto.run(scale, seed, progress=start)
    summary = protocol_report.write(proto.PRESETS[scale], scale, seed, main, sweep, out)
    err.print(f"report: {out / 'protocol.md'}; " + "; ".join(summary["headline"]))


def scaffold(
    checkpoint: Path = typer.Option(
        Path("runs/bdh/baseline"), "--checkpoint", help="A model saved by `hebbian bdh train`."
    ),
    facts: int = typer.Option(
        48, "--facts", min=4, help="Made-up words exposed (as many more are controls)."
    ),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Exposures of each fact."),
    seed: int = typer.Option(0, "--seed", help="Seed for the made-up facts."),
    synapses: Path = typer.Option(
        Path("runs/bdh/scaffold/synapses.safetensors"),
        "--synapses",
        help="Where the exposed synapses are saved.",
    ),
    out: Path = typer.Option(
        Path("reports/bdh"), "--out", help="Folder for scaffold.md and its figures."
    ),
) -> None:
    """Expose the model to new facts at inference time, save its synapses, and measure recall in a fresh process."""
    from . import exposure
    from .model import load

    try:
        model, meta = load(checkpoint)
    except FileNotFoundError as e:
        fail(f"{e}; train one first with `hebbian bdh train`")
    with progress_bars() as start:
        summary = exposure.run(
            model,
            checkpoint,
            facts,
            repeats,
            seed,
            synapses,
            out,
            progress=start,
            block_size=meta.get("block_size", 64),
        )
    err.print(f"report: {out / 'scaffold.md'}; " + summary["headline"])
