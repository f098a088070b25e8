"""Typer command functions for ``hebbian sae synthetic`` and ``hebbian sae llm``.

Plain functions, registered by the CLI (``sae_app.command()(synthetic)``);
heavy imports stay inside them so that ``hebbian --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from hebbian.io.console import fail, out, stage_bars


def synthetic(
    seeds: int = typer.Option(
        10, min=2, help="Seeds per condition (each fixes data noise and initial weights)."
    ),
    steps: int = typer.Option(2000, min=1, help="Full-batch Adam steps per SAE."),
    latents: int = typer.Option(32, min=2, help="SAE latents."),
    out_dir: Path = typer.Option(
        Path("reports/sae"), "--out", help="Where the report and figures go."
    ),
) -> None:
    """The seed's synthetic-episode experiments (KL vs L1, importance weights, beta sweep) over seeds."""
    from .report_synthetic import write
    from .synthetic import SyntheticConfig, run_synthetic

    config = SyntheticConfig(seeds=seeds, steps=steps, latents=latents)
    start = time.time()
    with stage_bars() as update:
        runs = run_synthetic(config, lambda done, total: update("SAEs", done, total))
    path = write(runs, config, out_dir, time.time() - start)
    out.print(f"wrote {path}", highlight=False)


def llm(
    layer: int = typer.Option(12, help="Residual stream after this block (0-based)."),
    tokens: int = typer.Option(
        32768, min=256, help="Training tokens (position 0 of each context excluded)."
    ),
    latents: int = typer.Option(2048, min=2, help="SAE latents."),
    k: int = typer.Option(32, min=1, help="Active latents of the TopK SAE."),
    l1: float = typer.Option(4e-3, min=0.0, help="L1 coefficient of the ReLU SAEs."),
    steps: int = typer.Option(400, min=1, help="Adam steps per SAE."),
    batch_size: int = typer.Option(512, min=1, help="Tokens per step."),
    lr: float = typer.Option(4e-4, min=0.0, help="Adam learning rate."),
    warmup: int = typer.Option(
        100, min=0, help="Steps over which lr and L1 coefficient ramp up from 0."
    ),
    ctx: int = typer.Option(128, min=8, help="Tokens per context."),
    horizon: int = typer.Option(
        32, min=1, help="Following queries over which a token's importance is measured."
    ),
    outlier_factor: float = typer.Option(
        10.0, min=1.0, help="Leave tokens with norm > this x median to the model."
    ),
    eval_contexts: int = typer.Option(
        24, min=4, help="Held-out contexts for metrics, CE and token groups."
    ),
    model: str = typer.Option("default", help="Model spec for hebbian.models.load (llama-style)."),
    corpus: str = typer.Option("austen/prideprejudice", help="Text from hebbian.corpus."),
    seed: int = typer.Option(0, help="Seed of initial weights and batch order."),
    out_dir: Path = typer.Option(
        Path("reports/sae"), "--out", help="Where the report and figures go."
    ),
    runs_dir: Path = typer.Option(
        Path("runs/sae"), help="Cache of collected activations (git-ignored)."
    ),
) -> None:
    """SAEs (TopK, ReLU, attention-weighted ReLU) on a layer's residual stream over real text."""
    from hebbian.io.loading import load_model

    from .. import corpus as corpus_mod
    from .llm import LLMConfig, run_llm
    from .report_llm import write

    config = LLMConfig(
        model=model,
        corpus=corpus,
        layer=layer,
        tokens=tokens,
        ctx=ctx,
        eval_contexts=eval_contexts,
        latents=latents,
        k=k,
        l1=l1,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup,
        horizon=horizon,
        outlier_factor=outlier_factor,
        seed=seed,
        runs_dir=str(runs_dir),
    )
    if k > latents:
        fail(f"--k {k} exceeds --latents {latents}")
    if horizon >= ctx:
        fail(f"--horizon {horizon} must be smaller than --ctx {ctx}")
    try:
        text = corpus_mod.load(corpus)
    except FileNotFoundError as e:
        fail(str(e))
    lm, tokenizer = load_model(model)
    start = time.time()
    try:
        with stage_bars() as update:
            results = run_llm(lm, tokenizer, text, config, update)
    except ValueError as e:
        fail(str(e))
    path = write(results, out_dir, time.time() - start, lambda t: tokenizer.decode([t]))
    out.print(f"wrote {path}", highlight=False)
