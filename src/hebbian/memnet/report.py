"""The markdown report of one experiment: set-up, parameter counts, results, paired tests, figures.

Comparisons are MemNet against every other variant that ran, paired by seed (the same
data and initialisation seed), with a two-sided paired t-test (primary), Wilcoxon's
signed-rank test, Cohen's d_z and a bootstrap CI of the mean difference. Holm's
correction runs over the comparisons of one metric. The verdict lines are written from
the numbers, whichever way they fall.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import numpy as np

from hebbian.io import provenance
from hebbian.io.files import write_atomic
from hebbian.io.markdown import table

from .. import stats
from . import figures
from .experiments import LOSS_EVERY, MEMNET_VARIANTS
from .tasks import ROLE_NAMES

# (metric key, label, higher is better); the first one is the task's primary outcome.
METRICS = {
    "dependency": [
        ("beyond_reach", "accuracy beyond the controller's reach", True),
        ("accuracy", "accuracy, all queried items", True),
        ("within_reach", "accuracy within the controller's reach", True),
        ("in_sequence", "answer names a value of the sequence (binding ignored)", True),
    ],
    "continual": [
        ("final_accuracy", "final accuracy, mean over tasks", True),
        ("forgetting", "forgetting (best - final accuracy, earlier tasks)", False),
    ],
    "forgetting": [
        ("accuracy", "recall accuracy of marked pairs", True),
        ("beyond_reach", "recall accuracy beyond the controller's reach", True),
        ("in_sequence", "answer names a marked value of the sequence (binding ignored)", True),
    ],
}
TITLES = {
    "dependency": "Synthetic long-term dependency",
    "continual": "Continual learning with distribution shifts",
    "forgetting": "Learned forgetting dynamics",
}
DESCRIPTIONS = {
    "dependency": "Each sequence scatters key-value pairs through filler tokens, then asks `QUERY key` for "
    "every pair; the answer is the value. Items farther back than the controller's receptive "
    "field can only be answered from memory (or, for the LSTM, from its cell state).",
    "continual": "Three recall tasks are trained one after another, each with its own keys (an input shift) and "
    "its own answer rule, value + task index (an output shift). Every task is evaluated throughout; "
    "forgetting is a task's best accuracy at a task switch from its own onwards minus its final one.",
    "forgetting": "Queried pairs are announced by a MARK token; unmarked distractor pairs are never queried. "
    "With more pair tokens than memory slots, the model must choose what to keep. The memory "
    "traces on the evaluation set give how long each kind of write survives.",
}
ALPHA = 0.05


def compare(a: list[float], b: list[float]) -> dict:
    """Paired comparison of a - b over seeds: mean diff, bootstrap CI, d_z, paired t and Wilcoxon p.

    Differences without spread leave t, d_z and the bootstrap undefined; p is then the
    exact sign test (1 if every difference is zero).
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    row = {"mean_diff": float(diff.mean()), "n": len(diff)}
    if np.ptp(diff) == 0:
        p = 1.0 if diff[0] == 0 else min(1.0, 2 * 0.5 ** len(diff))
        return {
            **row,
            "ci": (diff[0], diff[0]),
            "dz": math.nan,
            "t": math.nan,
            "p": p,
            "wilcoxon_p": p,
        }
    t = stats.paired_t(a, b)
    ci = stats.bootstrap_paired_diff_ci(a, b, seed=0)
    return {
        **row,
        "ci": (ci.ci_low, ci.ci_high),
        "dz": t.effect.value,
        "t": t.statistic,
        "p": t.p_value,
        "wilcoxon_p": stats.wilcoxon(a, b).p_value,
    }


def comparisons(seeds: list[dict], variants: list[str], metric: str) -> list[dict]:
    """MemNet against every other variant on ``metric``, Holm-corrected over those comparisons."""
    ours = [s["variants"]["memnet"]["metrics"][metric] for s in seeds]
    rows = []
    for other in variants:
        if other == "memnet":
            continue
        theirs = [s["variants"][other]["metrics"][metric] for s in seeds]
        rows.append({"other": other, **compare(ours, theirs)})
    if rows and len(seeds) > 1:
        corrected = stats.correct([r["p"] for r in rows], "holm", ALPHA)
        for row, p, reject in zip(rows, corrected.p_values, corrected.reject):
            row["p_holm"], row["significant"] = p, reject
    return rows


def verdict(row: dict, higher_is_better: bool) -> str:
    if "p_holm" not in row:
        return "needs >= 2 seeds"
    if not row["significant"]:
        return "no significant difference"
    better = (row["mean_diff"] > 0) == higher_is_better
    return "MemNet better" if better else "MemNet worse"


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def _p(x: float) -> str:
    return "n/a" if math.isnan(x) else ("<0.001" if x < 0.001 else f"{x:.3f}")


COMPARISON_HEADER = [
    "MemNet vs", "mean diff", "95% bootstrap CI", "d_z", "t", "p", "p (Holm)", "Wilcoxon p", "verdict",
]  # fmt: skip


def _comparison(r: dict, higher: bool) -> list[str]:
    """One row of a comparison table: MemNet minus ``r['other']``."""
    return [
        r["other"],
        _fmt(r["mean_diff"]),
        f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]",
        _fmt(r["dz"], 2),
        _fmt(r["t"], 2),
        _p(r["p"]),
        _p(r.get("p_holm", math.nan)),
        _p(r["wilcoxon_p"]),
        verdict(r, higher),
    ]


def _mean_ci(values: list[float]) -> str:
    mean, low, high = figures.mean_and_band(np.asarray(values)[:, None])
    return f"{mean[0]:.3f} [{low[0]:.3f}, {high[0]:.3f}]"


def write_report(seeds: list[dict], out_dir: Path) -> Path:
    """Write reports/<task>.md and its figures from the stored seeds of one task."""
    task = seeds[0]["task"]
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = list(seeds[0]["settings"]["variants"])
    memnets = [v for v in variants if v in MEMNET_VARIANTS]
    lines = [
        f"# MemNet: {TITLES[task]}",
        "",
        DESCRIPTIONS[task],
        "",
        f"Generated by `hebbian memnet report` on {datetime.date.today().isoformat()} from "
        f"{len(seeds)} seeds ({', '.join(str(s['seed']) for s in seeds)}).",
        "",
        *_provenance(seeds),
        f"- controller receptive field: {seeds[0]['receptive_field']} tokens; chance accuracy: "
        f"{seeds[0]['chance']:.3f}",
        "",
    ]
    lines += _setup(seeds)
    lines += _results(seeds, variants, task)
    lines += _memory_table(seeds, memnets)
    lines += _figures(seeds, variants, memnets, task, out_dir)
    return write_atomic(out_dir / f"{task}.md", "\n".join(lines) + "\n")


def _provenance(seeds: list[dict]) -> list[str]:
    """Training provenance as stored with the seeds (each distinct value once), then the report's own."""
    revisions = sorted({s["provenance"]["git"] for s in seeds})
    versions = sorted({provenance.packages(s["provenance"]["versions"]) for s in seeds})
    now = provenance.snapshot()
    return [
        f"- git revision at training: {'; '.join(revisions)}",
        f"- packages at training: {'; '.join(versions)}",
        f"- git revision of this report: {now['git']}",
        f"- packages of this report: {provenance.packages(now['versions'])}",
    ]


def _setup(seeds: list[dict]) -> list[str]:
    variants = seeds[0]["settings"]["variants"]
    lines = [
        "## Set-up",
        "",
        "Settings (identical for every seed) and the full MemNet configuration "
        "(ablations change only the field they name):",
        "",
        "```json",
        json.dumps(seeds[0]["settings"]),
        json.dumps(seeds[0]["memnet_config"]),
        "```",
        "",
    ]
    rows = [
        [
            v,
            f"{seeds[0]['variants'][v]['parameters']:,}",
            f"{np.mean([s['variants'][v]['seconds'] for s in seeds]):.0f}",
        ]
        for v in variants
    ]
    header = ["variant", "parameters", "training time per seed (s, mean)"]
    return lines + [
        table(header, rows, align="lrr"),
        "",
        "Baselines are sized to the full MemNet's parameter count; the ablations drop "
        "the parts they switch off (the synthesizer's weights, the policy gate).",
        "",
    ]


def _results(seeds: list[dict], variants: list[str], task: str) -> list[str]:
    lines = [
        "## Results",
        "",
        "Mean over seeds [95% t-interval across seeds].",
        "",
        table(
            ["variant", *(label for _, label, _ in METRICS[task])],
            [
                [
                    v,
                    *(
                        _mean_ci([s["variants"][v]["metrics"][m] for s in seeds])
                        for m, _, _ in METRICS[task]
                    ),
                ]
                for v in variants
            ],
            align="l" + "r" * len(METRICS[task]),
        ),
    ]
    memnets = [v for v in variants if v in MEMNET_VARIANTS]
    lines += [""] + _untrained(seeds, variants, task) + _binding(seeds, memnets, task)
    if "memnet" not in variants:
        return lines + ["No paired tests: the full MemNet was not among the variants run.", ""]
    for i, (metric, label, higher) in enumerate(METRICS[task]):
        kind = "primary" if i == 0 else "secondary"
        rows = comparisons(seeds, variants, metric)
        lines += [
            f"### {label} ({kind}; {'higher' if higher else 'lower'} is better)",
            "",
            "MemNet minus the other variant, paired by seed; Holm over the rows of this table.",
            "",
            table(COMPARISON_HEADER, [_comparison(r, higher) for r in rows], align="lrlrrrrrl"),
            "",
        ]
        lines += _summary(rows, higher, label) + [""]
    return lines


def _untrained(seeds: list[dict], variants: list[str], task: str) -> list[str]:
    """Name the variants that never rose above chance: beating them says little about capacity.

    The measure is the final accuracy, or for continual learning the best accuracy each
    task reached at any evaluation (averaged over tasks), so that forgetting is not
    mistaken for never having learned.
    """

    def best(result: dict) -> float:
        if task == "continual":
            return float(np.max(result["curve"]["accuracy"], axis=0).mean())
        return result["metrics"]["accuracy"]

    chance = seeds[0]["chance"]
    stuck = [
        v for v in variants if np.mean([best(s["variants"][v]) for s in seeds]) < chance + 0.05
    ]
    if not stuck:
        return []
    return [
        f"**Caveat:** {', '.join(stuck)} never rose 0.05 above chance ({chance:.3f}): "
        f"{'it' if len(stuck) == 1 else 'they'} did not learn the task within "
        f"{seeds[0]['settings']['steps']} steps at the shared training settings (no per-model tuning). "
        "Differences against such a variant measure what it learned in this budget, not what it could hold.",
        "",
    ]


def _binding(seeds: list[dict], memnets: list[str], task: str) -> list[str]:
    """MemNet's accuracy given that it named a value of the sequence: 1 / n_pairs if keys are ignored."""
    if task == "continual" or not memnets:
        return []
    n_pairs = seeds[0]["settings"]["n_pairs"]
    cells = []
    for v in memnets:
        metrics = [s["variants"][v]["metrics"] for s in seeds]
        ratio = np.mean([m["accuracy"] / m["in_sequence"] for m in metrics if m["in_sequence"] > 0])
        cells.append(f"{v} {ratio:.2f}")
    return [
        f"**Binding.** Share of MemNet's answers naming the right pair's value among those naming any queried "
        f"value of the sequence (a memory of the values without their keys gives 1/{n_pairs} = {1 / n_pairs:.2f}): "
        + ", ".join(cells)
        + ".",
        "",
    ]


def _memory_table(seeds: list[dict], memnets: list[str]) -> list[str]:
    """How each MemNet variant used its memory on the evaluation set, means over seeds."""
    if not memnets or not seeds[0]["variants"][memnets[0]].get("memory"):
        return []
    summary = seeds[0]["variants"][memnets[0]]["memory"]
    shown = [i for i, mass in enumerate(summary["write_mass_by_role"]) if not math.isnan(mass)]
    lines = [
        "## Memory behaviour",
        "",
        "Read policy mix (top-k / uniform / random), read entropy (nats; uniform reads give "
        f"{summary['read_entropy_uniform']:.2f}), slot reuse (full overwrites per slot per sequence) "
        "and write mass per token of each role; means over seeds.",
        "",
    ]
    table_rows = []
    for v in memnets:
        rows = [s["variants"][v]["memory"] for s in seeds]
        policy = np.mean([r["policy"] for r in rows], axis=0)
        mass = np.mean([[r["write_mass_by_role"][i] for i in shown] for r in rows], axis=0)
        table_rows.append(
            [
                v,
                " / ".join(f"{x:.2f}" for x in policy),
                f"{np.mean([r['read_entropy'] for r in rows]):.2f}",
                f"{np.mean([r['slot_reuse'] for r in rows]):.2f}",
                *(f"{m:.2f}" for m in mass),
            ]
        )
    header = [
        "variant", "policy mix", "read entropy", "slot reuse",
        *(f"write: {ROLE_NAMES[i]}" for i in shown),
    ]  # fmt: skip
    return lines + [table(header, table_rows, align="llrr" + "r" * len(shown)), ""]


def _summary(rows: list[dict], higher: bool, label: str) -> list[str]:
    """One plain sentence per comparison group, so the headline cannot hide a loss."""
    better = [r["other"] for r in rows if verdict(r, higher) == "MemNet better"]
    worse = [r["other"] for r in rows if verdict(r, higher) == "MemNet worse"]
    same = [r["other"] for r in rows if verdict(r, higher) == "no significant difference"]
    out = []
    if better:
        out.append(f"On {label}, MemNet is significantly better than: {', '.join(better)}.")
    if worse:
        out.append(f"On {label}, MemNet is significantly worse than: {', '.join(worse)}.")
    if same:
        out.append(
            f"On {label}, no significant difference (Holm, alpha {ALPHA}) from: {', '.join(same)}."
        )
    return out


def _figures(
    seeds: list[dict], variants: list[str], memnets: list[str], task: str, out_dir: Path
) -> list[str]:
    made = []

    def add(name: str, caption: str, draw) -> None:
        path = out_dir / f"{task}_{name}.png"
        draw(path)
        made.extend([f"![{caption}]({path.name})", "", f"*{caption}*", ""])

    primary, primary_label, _ = METRICS[task][0]
    if task in ("dependency", "forgetting"):
        add(
            "accuracy_vs_distance",
            "Accuracy against distance; dashed line: the controller's reach",
            lambda p: figures.accuracy_vs_distance(seeds, variants, p),
        )
    if task == "continual":
        add(
            "forgetting_curves",
            "Accuracy on each task during sequential training; dashed: task switches",
            lambda p: figures.forgetting_curves(seeds, variants, p),
        )
    add(
        "primary",
        f"{primary_label} per variant (dots: seeds)",
        lambda p: figures.metric_by_variant(seeds, variants, primary, primary_label, p),
    )
    add("loss", "Training loss", lambda p: figures.loss_curves(seeds, variants, LOSS_EVERY, p))
    if memnets and seeds[0]["variants"][memnets[0]].get("memory"):
        add(
            "write_mass",
            "Write mass per token role (write frequency)",
            lambda p: figures.write_mass_by_role(seeds, memnets, ROLE_NAMES, p),
        )
    if memnets and seeds[0]["variants"][memnets[0]].get("dynamics"):
        add(
            "survival",
            "Slot survival: share of a write still held after a delay, by the role of the written "
            "token (normalised by the write's own size; how much each role gets written is the write-mass figure)",
            lambda p: figures.survival_curves(seeds, memnets, p),
        )
        add(
            "lifetimes_entropy",
            "Slot lifetimes and read entropy",
            lambda p: figures.lifetimes_and_entropy(seeds, memnets, p),
        )
        add(
            "heatmap",
            f"Memory heatmap, one evaluation sequence (seed {seeds[0]['seed']}, {memnets[0]}); "
            "row labels: role letter (K/V key/value, k/v distractor, M mark, Q/q query, . filler) and token id",
            lambda p: figures.memory_heatmap(
                seeds[0]["variants"][memnets[0]]["dynamics"]["example"], p
            ),
        )
    return ["## Figures", ""] + made
