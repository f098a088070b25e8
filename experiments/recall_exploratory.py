"""The recall studies' pre-registered exploratory analyses, not tests: recall and answer
log-probability in each condition, by the fact's kind and by its distance from the question.

    python experiments/recall_exploratory.py runs/recall reports/recall-exploratory.md
    python experiments/recall_exploratory.py runs/recall-specificity reports/recall-specificity-exploratory.md

Reads a run directory written by `hebbian study prereg/recall*.yaml` (its frozen prereg rebuilds
the items, whose kind the trials do not record; no model is loaded) and writes a markdown page
with a figure beside it. Nothing here is a test of a hypothesis: no p-values, only descriptions.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from hebbian import plots, stats
from hebbian.studies import rundir
from hebbian.studies.prereg import load_prereg
from hebbian.studies.trials import read_trials

N_BINS = 3  # distance terciles


def by_condition(trials: list[dict], kinds: dict[str, str]) -> dict[str, dict[str, np.ndarray]]:
    """condition -> {"item", "kind", "correct", "logprob", "distance"} arrays in item order."""
    columns: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(trials, key=lambda t: (t["condition"], t["index"])):
        c = columns[t["condition"]]
        c["item"].append(t["item"])
        c["kind"].append(kinds[t["item"]])
        for name in ("correct", "logprob", "distance"):
            c[name].append(t["outcome"][name])
    return {name: {k: np.array(v) for k, v in c.items()} for name, c in columns.items()}


def complete_items(data: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Keep only the items every condition has, so that conditions stay paired."""
    shared = set.intersection(*(set(c["item"]) for c in data.values()))
    return {
        name: {k: v[np.isin(c["item"], list(shared))] for k, v in c.items()}
        for name, c in data.items()
    }


def distance_bins(distance: np.ndarray) -> np.ndarray:
    """Each item's distance tercile, 0 (nearest) to N_BINS - 1."""
    edges = np.quantile(distance, np.linspace(0, 1, N_BINS + 1)[1:-1])
    return np.searchsorted(edges, distance, side="right")


def overall_table(data: dict[str, dict[str, np.ndarray]], baseline: str) -> list[str]:
    """Per condition: recall, mean log-probability, and its paired difference from `baseline`."""
    lines = [
        "| condition | recall | mean logprob | minus `" + baseline + "`, paired (95% BCa) |",
        "|---|---|---|---|",
    ]
    base = data[baseline]["logprob"]
    for name, c in data.items():
        diff = ""
        if name != baseline:
            d = stats.bootstrap_paired_diff_ci(c["logprob"], base)
            diff = f"{d.value:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]"
        lines.append(
            f"| `{name}` | {int(c['correct'].sum())}/{len(c['correct'])} | {c['logprob'].mean():.2f} | {diff} |"
        )
    return lines


def kind_table(data: dict[str, dict[str, np.ndarray]]) -> list[str]:
    kinds = sorted(set(next(iter(data.values()))["kind"]))
    lines = [
        "| condition | " + " | ".join(f"{k}: recall, mean logprob" for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for name, c in data.items():
        cells = []
        for k in kinds:
            at = c["kind"] == k
            cells.append(
                f"{int(c['correct'][at].sum())}/{int(at.sum())}, {c['logprob'][at].mean():.2f}"
            )
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def distance_table(data: dict[str, dict[str, np.ndarray]], baseline: str) -> list[str]:
    distance = data[baseline]["distance"]
    bins = distance_bins(distance)
    heads = [
        f"{int(distance[bins == b].min())}-{int(distance[bins == b].max())} tokens (n={int((bins == b).sum())})"
        for b in range(N_BINS)
    ]
    lines = ["| condition | " + " | ".join(heads) + " |", "|---|" + "---|" * N_BINS]
    for name, c in data.items():
        cells = [
            f"{c['correct'][bins == b].mean():.2f}, "
            f"{np.mean(c['logprob'][bins == b] - data[baseline]['logprob'][bins == b]):+.2f}"
            for b in range(N_BINS)
        ]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def plot_distance(
    data: dict[str, dict[str, np.ndarray]], baseline: str, treatments: list[str], path: Path
) -> Path:
    fig, ax = plots.figure(figsize=(7, 4))
    distance = data[baseline]["distance"]
    order = np.argsort(distance)
    for name in treatments:
        gain = data[name]["logprob"] - data[baseline]["logprob"]
        ax.scatter(distance, gain, s=8, alpha=0.4, label=name)
        # running mean over 25 neighbours in distance, to show a trend without a model
        k = min(25, len(order))
        smooth = np.convolve(gain[order], np.ones(k) / k, mode="valid")
        ax.plot(distance[order][k // 2 : k // 2 + len(smooth)], smooth, lw=1.5)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("tokens from the end of the fact to the end of the prompt")
    ax.set_ylabel(f"answer log-prob gain over {baseline} (nats)")
    ax.legend(fontsize=7, ncol=3)
    return plots.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run directory of the recall study (runs/recall)")
    parser.add_argument("out", type=Path, help="markdown file to write (figure beside it)")
    args = parser.parse_args()
    prereg = load_prereg(args.run / "prereg.yaml")
    trials, _ = read_trials(args.run / "trials.jsonl")
    n = 1 + max(t["index"] for t in trials)
    kinds = {item.id: item.data["kind"] for item in prereg.make_task().items(n)}
    data = complete_items(by_condition(trials, kinds))
    data = {c.name: data[c.name] for c in prereg.conditions if c.name in data}  # the prereg's order
    baseline = prereg.role("baseline").name
    treatments = [c.name for c in prereg.conditions if c.role == "treatment"]
    figure = plot_distance(
        data,
        baseline,
        treatments,
        args.out.with_suffix("").parent
        / f"{args.out.stem}-figures"
        / "logprob-gain-by-distance.png",
    )
    n_items = len(data[baseline]["item"])
    body = [
        "## Every condition",
        "",
        "Exact-match recall, and the teacher-forced log-probability of the answer (nats).",
        "",
        *overall_table(data, baseline),
        "",
        "## By the kind of fact",
        "",
        "Each cell: items recalled / items, then the mean teacher-forced log-probability of the answer (nats).",
        "",
        *kind_table(data),
        "",
        "## By distance",
        "",
        f"Items split into distance terciles (tokens from the end of the fact to the end of the prompt). "
        f"Each cell: recall rate, then the mean log-probability gain over `{baseline}` (nats).",
        "",
        *distance_table(data, baseline),
        "",
        f"![log-prob gain by distance]({figure.relative_to(args.out.parent)})",
    ]
    args.out.write_text(
        rundir.exploratory_page(
            args.run,
            f"experiments/{Path(__file__).name}",
            f"Study `{prereg.id}`: exploratory analyses ({n_items} complete items)",
            body,
        )
    )
    print(f"wrote {args.out} and {figure}")


if __name__ == "__main__":
    main()
