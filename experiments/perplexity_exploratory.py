"""The perplexity study's pre-registered exploratory analysis, not a test: does a condition's NLL
gap from the window (and from the full cache) grow from the first half of the scored tokens to
the second, as more of the segment has left the window?

    python experiments/perplexity_exploratory.py runs/perplexity reports/perplexity-exploratory.md

Reads a run directory written by `hebbian study prereg/perplexity.yaml` (version 4 on, whose
trials carry `nll_early` and `nll_late`) and writes a markdown page with a figure beside it.
Descriptions only: paired mean differences with bootstrap intervals, no p-values.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbian import plots, stats
from hebbian.studies import rundir
from hebbian.studies.analysis import Outcomes, align
from hebbian.studies.prereg import load_prereg
from hebbian.studies.trials import read_trials

HALVES = ("nll_early", "nll_late")


def gaps(outcomes: Outcomes, reference: str) -> dict[str, dict[str, stats.EffectSize]]:
    """condition -> half -> its paired mean NLL difference from `reference` (bootstrap 95% CI)."""
    ref = outcomes.values[reference]
    return {
        c: {h: stats.bootstrap_paired_diff_ci(v[h], ref[h]) for h in HALVES}
        for c, v in outcomes.values.items()
        if c != reference
    }


def gap_table(outcomes: Outcomes, reference: str) -> list[str]:
    lines = [
        f"| condition | mean NLL, first half | mean NLL, second half | gap from `{reference}`, first half "
        "| second half | change |",
        "|---|---|---|---|---|---|",
    ]
    table = gaps(outcomes, reference)
    for c, v in outcomes.values.items():
        means = " | ".join(f"{v[h].mean():.3f}" for h in HALVES)
        if c == reference:
            lines.append(f"| `{c}` | {means} | | | |")
            continue
        early, late = (table[c][h] for h in HALVES)
        lines.append(
            f"| `{c}` | {means} | {early.value:+.3f} [{early.ci_low:+.3f}, {early.ci_high:+.3f}] "
            f"| {late.value:+.3f} [{late.ci_low:+.3f}, {late.ci_high:+.3f}] | {late.value - early.value:+.3f} |"
        )
    return lines


def plot_gaps(outcomes: Outcomes, reference: str, path: Path) -> Path:
    table = gaps(outcomes, reference)
    fig, ax = plots.figure(figsize=(7, 4))
    for i, (c, by_half) in enumerate(table.items()):
        x = [0 + 0.03 * i, 1 + 0.03 * i]
        y = [by_half[h].value for h in HALVES]
        err = [
            [by_half[h].value - by_half[h].ci_low for h in HALVES],
            [by_half[h].ci_high - by_half[h].value for h in HALVES],
        ]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=c)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks([0, 1], ["first half of the scored tokens", "second half"])
    ax.set_ylabel(f"mean NLL minus {reference}'s (nats/token)")
    ax.legend(fontsize=7, ncol=2)
    return plots.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "run", type=Path, help="run directory of the perplexity study (runs/perplexity)"
    )
    parser.add_argument("out", type=Path, help="markdown file to write (figure beside it)")
    args = parser.parse_args()
    prereg = load_prereg(args.run / "prereg.yaml")
    missing = [h for h in HALVES if h not in {o.name for o in prereg.outcomes}]
    if missing:
        parser.error(
            f"{args.run}: its pre-registration declares no {', '.join(missing)} (version 4 on does)"
        )
    outcomes = align(prereg, read_trials(args.run / "trials.jsonl")[0])
    baseline = prereg.role("baseline").name
    figure = plot_gaps(
        outcomes, baseline, args.out.parent / f"{args.out.stem}-figures" / "nll-gap-by-half.png"
    )
    body = [
        "The scored tokens of each segment split in two halves; a later token has more of the segment behind "
        f"it evicted. Gaps are paired mean differences from `{baseline}` with 95% bootstrap (BCa) intervals; "
        "negative is a lower loss.",
        "",
        *gap_table(outcomes, baseline),
        "",
        f"![NLL gap by half]({figure.relative_to(args.out.parent)})",
    ]
    args.out.write_text(
        rundir.exploratory_page(
            args.run,
            f"experiments/{Path(__file__).name}",
            f"Perplexity study: exploratory analysis ({outcomes.n} complete segments)",
            body,
        )
    )
    print(f"wrote {args.out} and {figure}")


if __name__ == "__main__":
    main()
