"""The markdown report, figures and JSON metrics of ``hebbian sae llm``."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hebbian.io import provenance
from hebbian.io.files import write_atomic
from hebbian.io.markdown import table

from . import figures
from .compare import markdown_table
from .importance import IMPORTANT_Q, ROUTINE_Q, context_means
from .llm import TOPK, UNIFORM, WEIGHTED, LLMResults

METRICS = (
    "L0",
    "explained variance",
    "explained variance (train)",
    "normalized MSE",
    "dead fraction",
    "CE with SAE",
    "CE loss recovered",
)


def metrics_table(res: LLMResults) -> str:
    rows = [[name, *(f"{run.metrics[m]:.4g}" for m in METRICS)] for name, run in res.saes.items()]
    return table(["SAE", *METRICS], rows)


def _frequent_tokens(
    res: LLMResults, mask: np.ndarray, decode: Callable[[int], str], n: int = 12
) -> str:
    rows = res.eval_rows[mask]
    ids = res.acts.tokens[res.acts.context[rows], res.acts.position[rows]]
    return ", ".join(f"`{decode(int(t))!r}` {c}" for t, c in Counter(ids.tolist()).most_common(n))


def _verdicts(res: LLMResults) -> list[str]:
    return [
        f"- {r.name}: {r.mean_a:.4g} vs {r.mean_b:.4g} (difference {r.mean_diff:+.3g}), Holm-adjusted "
        f"p = {r.p_adjusted:.2g}: {r.verdict()}"
        for r in res.comparisons
    ]


def write(res: LLMResults, out_dir: Path, elapsed_s: float, decode: Callable[[int], str]) -> Path:
    """Write ``llm.md``, ``llm_metrics.json`` and figures under ``out_dir``; returns the report path."""
    cfg, acts = res.config, res.acts
    fig_dir = out_dir / "figures"
    train_imp = res.importance[res.train_rows]
    hi, lo = np.nanquantile(train_imp, [IMPORTANT_Q, ROUTINE_Q])
    eval_ctx = acts.context[res.eval_rows]
    per_context = {
        f"{name} {group}": {
            m: context_means(res.per_token[name][m], eval_ctx, mask) for m in res.per_token[name]
        }
        for name in (UNIFORM, WEIGHTED)
        for group, mask in (("important", res.important), ("routine", res.routine))
    }
    figs = [
        figures.loss_curves(
            {n: r.result.history for n, r in res.saes.items()},
            fig_dir / "llm_training.png",
            keys=("loss", "recon", "l0"),
        ),
        figures.importance(
            acts.position[res.train_rows],
            acts.received[res.train_rows],
            train_imp,
            (hi, lo),
            fig_dir / "llm_importance.png",
        ),
        figures.group_means(per_context, fig_dir / "llm_groups.png"),
    ]
    pos = acts.position[res.eval_rows]
    text = [
        f"# SAEs on {cfg.model}'s residual stream after layer {cfg.layer}, and attention-weighted training",
        "",
        f"Text: `{cfg.corpus}`, {cfg.train_contexts} training contexts and {cfg.eval_contexts} held-out contexts "
        f"of {cfg.ctx} tokens ({len(res.train_rows)} / {len(res.eval_rows)} tokens scored). Position 0 (the "
        f"attention sink) and {res.outliers} further tokens whose residual norm exceeds {cfg.outlier_factor:g}x the "
        "median (sink-like tokens with norms in the thousands) are neither trained on nor scored, and the splice "
        f"passes them through untouched. Activations scaled by {res.scale:.4g} so their mean norm is sqrt(d).",
        "",
        "## SAE quality on held-out tokens",
        "",
        metrics_table(res),
        "",
        f"CE (nats/token, held-out contexts): clean {res.ce['clean']:.4f}, zero-ablation "
        f"{res.ce['zero-ablation']:.4f}. CE loss recovered = (CE_zero - CE_SAE) / (CE_zero - CE_clean). "
        "Explained variance is pooled: 1 - sum||x - x_hat||^2 / sum||x - mean x||^2; normalised MSE is "
        "mean ||x - x_hat||^2 / ||x||^2; a latent is dead when it has not fired on the last "
        f"{cfg.tokens} training tokens (one pass).",
        "",
        f"Recipes: {TOPK}: k = {cfg.k}, unit-norm atoms (gradient projected, renormalised each step), AuxK "
        f"(coefficient {cfg.auxk_coef:.4g}, k_aux = d/2) on dead latents. {UNIFORM}: L1 coefficient {cfg.l1} on "
        f"f_i * ||W_dec[i]|| (atoms free). {WEIGHTED}: the same with importance weights. All: {cfg.latents} latents, "
        f"Adam lr {cfg.lr} and L1 coefficient warmed up over {cfg.warmup_steps} steps, {cfg.steps} steps of "
        f"{cfg.batch_size} tokens, seed {cfg.seed}, same init and batch order, encoder scaled at init so "
        "reconstructions match the data's norm.",
        "",
        "## Importance from attention received",
        "",
        f"Importance = attention a token receives at layer {cfg.layer} (causal softmax, mean over heads) from the "
        f"{cfg.horizon} queries starting at it, divided by the training tokens' mean of the same quantity at the "
        "same position; so every token is judged by the same number of queries at the same distances, against "
        "tokens at its own position (raw column sums favour early tokens; a uniform-attention baseline leaves "
        f"a strong rise with position). The last {cfg.horizon - 1} tokens of each context have no importance: they "
        "are left out of the groups and weighted as average tokens. Training weights: importance clipped to "
        f"[1/{cfg.weight_clip:g}, {cfg.weight_clip:g}]; reconstruction weight proportional to it, sparsity weight to "
        "its inverse, each with mean 1.",
        "",
        f"Groups on held-out tokens (thresholds from training tokens): important = ratio >= {hi:.3g} (top "
        f"{1 - IMPORTANT_Q:.0%}), {int(res.important.sum())} tokens, mean position {pos[res.important].mean():.1f}; "
        f"routine = ratio <= {lo:.3g} (bottom {ROUTINE_Q:.0%}), {int(res.routine.sum())} tokens, mean position "
        f"{pos[res.routine].mean():.1f}.",
        "",
        f"Most frequent important tokens: {_frequent_tokens(res, res.important, decode)}",
        "",
        f"Most frequent routine tokens: {_frequent_tokens(res, res.routine, decode)}",
        "",
        "## Important vs routine tokens",
        "",
        *_verdicts(res),
        "",
        markdown_table(res.comparisons),
        "",
        f"Each test is paired over the {cfg.eval_contexts} held-out contexts (per-context means), because tokens of "
        "one context are not independent; robust p = Wilcoxon signed-rank; Holm over the whole table. "
        "'change' rows test whether weighting moved important tokens more than routine ones "
        "(difference-in-differences). Feature overlap is the per-context Jaccard index of the latents used by "
        "important tokens and by routine tokens; it grows with the number of latents each group uses, so a change "
        "in L0 moves it too.",
        "",
        "## Figures",
        "",
        *[f"![{p.stem}](figures/{p.name})" for p in figs],
        "",
        provenance.markdown(
            {
                "date": dt.datetime.now().isoformat(timespec="seconds"),
                "seeds": str(cfg.seed),
                "run time": f"{elapsed_s:.0f} s",
            },
            asdict(cfg),
        ),
        *(
            [
                "Activations were read from the cache of an earlier identical collection; the run "
                "time excludes collecting them."
            ]
            if res.activations_cached
            else []
        ),
        "",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    dump = {
        "ce": res.ce,
        "saes": {n: r.metrics for n, r in res.saes.items()},
        "comparisons": [
            {k: v for k, v in asdict(c).items() if k != "effect"}
            | ({"effect": asdict(c.effect)} if c.effect else {})
            for c in res.comparisons
        ],
    }
    write_atomic(out_dir / "llm_metrics.json", json.dumps(dump, indent=1))
    return write_atomic(out_dir / "llm.md", "\n".join(text))
