"""The generative check's pre-registered exploratory analyses, not tests: does a condition that
lowers (or raises) the NLL beyond the window on a segment also continue that segment with more
(or less) repetition, and what do its continuations look like beside the full cache's?

    python experiments/perplexity_generation_exploratory.py runs/perplexity-generation \\
        reports/runs/perplexity reports/perplexity-generation-exploratory.md

Reads the run directory written by `hebbian study prereg/perplexity-generation.yaml` and the
perplexity study's run directory (the same segments: same corpus, segment length and item seed;
its log may be gzipped, as archived in reports/runs/) and writes a markdown page with a figure
beside it. Per condition and segment, the NLL gap from the window (perplexity study) is set
against the rep-4 gap from the window (this study): Spearman's rho over the segments, with a
bootstrap interval. Descriptions only: no p-values.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap, spearmanr

from hebbian import plots
from hebbian.io.files import write_atomic
from hebbian.studies import rundir
from hebbian.studies.analysis import align
from hebbian.studies.prereg import load_prereg
from hebbian.studies.report import quote_reply
from hebbian.studies.trials import read_trials

QUOTED = 3  # segments quoted per condition


def read_log(run: Path) -> list[dict]:
    """A run directory's trials, from trials.jsonl or its gzipped archive."""
    if (run / "trials.jsonl").exists():
        return read_trials(run / "trials.jsonl")[0]
    with gzip.open(run / "trials.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def per_segment(trials: list[dict], outcome: str) -> dict[str, dict[str, float]]:
    """condition -> item -> the outcome."""
    table: dict[str, dict[str, float]] = {}
    for t in trials:
        if "excluded" not in t:
            table.setdefault(t["condition"], {})[t["item"]] = t["outcome"][outcome]
    return table


def rho_with_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Spearman's rho of paired x, y and its 95% percentile bootstrap interval (items resampled)."""
    rho = spearmanr(x, y).statistic
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return rho, float("nan"), float("nan")
    ci = bootstrap(
        (x, y),
        lambda a, b: spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=2000,
        random_state=0,
    ).confidence_interval
    return rho, ci.low, ci.high


def gaps(
    nll: dict[str, dict[str, float]], rep4: dict[str, dict[str, float]], baseline: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """condition -> (NLL gaps, rep-4 gaps) from the baseline, over the segments both studies hold."""
    out = {}
    for c in rep4:
        if c == baseline or c not in nll:
            continue
        items = sorted(set(rep4[c]) & set(rep4[baseline]) & set(nll[c]) & set(nll[baseline]))
        out[c] = (
            np.array([nll[c][i] - nll[baseline][i] for i in items]),
            np.array([rep4[c][i] - rep4[baseline][i] for i in items]),
        )
    return out


def plot_gaps(table: dict[str, tuple[np.ndarray, np.ndarray]], baseline: str, path: Path) -> Path:
    fig, axes = plots.figure(
        ncols=len(table), figsize=(2.6 * len(table), 2.8), squeeze=False, sharey=True
    )
    for ax, (c, (dn, dr)) in zip(axes[0], table.items()):
        ax.scatter(dn, dr, s=8, alpha=0.6)
        ax.axhline(0, color="black", lw=0.6)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("NLL gap (nats/token)", fontsize=8)
    axes[0][0].set_ylabel(f"rep-4 gap from {baseline}", fontsize=8)
    return plots.save(fig, path)


def quotes(trials: list[dict], reference: str, conditions: list[str]) -> list[str]:
    """Each condition's first QUOTED continuations beside the reference's on the same segments."""
    reply = {
        (t["condition"], t["item"]): t["outcome"]["reply"] for t in trials if "excluded" not in t
    }
    items = sorted(
        {t["item"] for t in trials}, key=lambda i: min(t["index"] for t in trials if t["item"] == i)
    )
    lines = []
    for c in conditions:
        shown = [i for i in items if (c, i) in reply and (reference, i) in reply][:QUOTED]
        lines += [f"`{c}`:", ""]
        for i in shown:
            lines += [
                f"- {i}, `{c}`: {quote_reply(reply[(c, i)])}",
                f"  - `{reference}`: {quote_reply(reply[(reference, i)])}",
            ]
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run directory of the generative check")
    parser.add_argument("perplexity", type=Path, help="run directory of the perplexity study")
    parser.add_argument("out", type=Path, help="markdown file to write (figure beside it)")
    args = parser.parse_args()
    prereg = load_prereg(args.run / "prereg.yaml")
    trials = read_log(args.run)
    outcomes = align(prereg, trials)
    complete = set(outcomes.items)
    trials = [t for t in trials if t["item"] in complete]
    baseline, reference = prereg.role("baseline").name, prereg.role("positive_control").name
    table = gaps(
        per_segment(read_log(args.perplexity), "nll"), per_segment(trials, "rep4"), baseline
    )
    if not table:
        parser.error(f"{args.perplexity} holds no segment of {args.run} under the same conditions")
    figure = plot_gaps(
        table, baseline, args.out.parent / f"{args.out.stem}-figures" / "nll-gap-vs-rep4-gap.png"
    )
    rows = [
        "| condition | segments | mean NLL gap | mean rep-4 gap | Spearman's rho | 95% bootstrap CI |",
        "|---|---|---|---|---|---|",
    ]
    for c, (dn, dr) in table.items():
        rho, low, high = rho_with_interval(dn, dr)
        rows.append(
            f"| `{c}` | {len(dn)} | {dn.mean():+.4f} | {dr.mean():+.3f} | {rho:+.2f} | [{low:+.2f}, {high:+.2f}] |"
        )
    body = [
        "## NLL beyond the window against repetition, per segment",
        "",
        f"For each segment, a condition's gap from `{baseline}` in the perplexity study's NLL beyond the window "
        f"(`{args.perplexity}`) and in this study's rep-4 of the 64-token continuation. A positive rho: "
        "segments where the condition costs more loss are those where it repeats itself more.",
        "",
        *rows,
        "",
        f"![NLL gap against rep-4 gap]({figure.relative_to(args.out.parent)})",
        "",
        f"## Continuations beside `{reference}`'s",
        "",
        f"The first {QUOTED} segments of the run, JSON-quoted, each condition's continuation over the full cache's.",
        "",
        *quotes(trials, reference, [c.name for c in prereg.conditions if c.name != reference]),
    ]
    write_atomic(
        args.out,
        rundir.exploratory_page(
            args.run,
            f"experiments/{Path(__file__).name}",
            f"Generative check: exploratory analysis ({outcomes.n} complete segments)",
            body,
        ),
    )
    print(f"wrote {args.out} and {figure}")


if __name__ == "__main__":
    main()
