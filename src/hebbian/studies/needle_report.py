"""The needle study's descriptive page: depth x length heatmaps of recall, memory and retrieval.

    python -m hebbian.studies.needle_report runs/needle reports/needle-heatmaps

Reads the trials of a run directory written by `hebbian study prereg/needle*.yaml` (the main log
and any shares' logs; no model is loaded) and writes into the output folder, besides the study's
own report: one PNG per distractor count, a panel per condition, each cell the share of that
cell's trials recalled, annotated k/n (the classic needle-in-a-haystack heatmap); and `needle.md`
with the same counts as tables, each condition's memory (cache plus consolidated state, bytes),
recall on the items whose fact left the window against those whose fact stayed in it (a memory
that reads old blocks may help the first and distract from the second), and the retrieval check
(where the fact had been evicted: how often a block read held it, and recall when it did and when
it did not: not found, or found but not used), and the replies of the first items in each of
those two sets, every condition's side by side (read them before trusting a rate). Descriptions only,
except the one rule the study pre-registers in its exploratory list, since the prereg schema has
no non-inferiority test: with --noninferiority A B MARGIN, whether the 95% CI of the paired
difference in recall A - B (Bonett and Price's adjusted Wald interval, which keeps its coverage
with few discordant pairs, where a bootstrap does not) lies above -MARGIN.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hebbian.io import markdown
from hebbian.io.files import write_atomic
from hebbian.studies.trials import read_trials

Cell = tuple[float, float]  # (length, depth)


def load(run: Path) -> list[dict[str, Any]]:
    """The run's recorded trials with an outcome, from `trials.jsonl` and its shares' logs."""
    records, seen = [], set()
    for log in sorted(run.glob("trials*.jsonl")):
        for r in read_trials(log)[0]:
            if "outcome" in r and (r["item"], r["condition"]) not in seen:
                seen.add((r["item"], r["condition"]))
                records.append(r)
    if not records:
        raise ValueError(
            f"{run}: no trial with an outcome (is it a run directory of a needle study?)"
        )
    return records


def conditions(records: list[dict[str, Any]]) -> list[str]:
    """The conditions in the order their first trials were recorded (the prereg's order)."""
    return list(dict.fromkeys(r["condition"] for r in sorted(records, key=lambda r: r["index"])))


def recall_grid(
    records: list[dict[str, Any]],
) -> dict[tuple[str, float], dict[Cell, tuple[int, int]]]:
    """(condition, distractors) -> (length, depth) -> (recalled, trials)."""
    grid: dict[tuple[str, float], dict[Cell, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0])
    )
    for r in records:
        o = r["outcome"]
        cell = grid[r["condition"], o["distractors"]][o["length"], o["depth"]]
        cell[0] += bool(o["correct"])
        cell[1] += 1
    return {key: {c: (k, n) for c, (k, n) in cells.items()} for key, cells in grid.items()}


def axes(records: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """The lengths, depths and distractor counts the trials cover, sorted."""
    return tuple(
        sorted({r["outcome"][name] for r in records}) for name in ("length", "depth", "distractors")
    )


def heatmap(
    grid: dict,
    names: list[str],
    lengths: list[float],
    depths: list[float],
    distractors: float,
    path: Path,
) -> Path:
    """One panel per condition: depth (rows) x length (columns), colour the recall rate, text k/n."""
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(0.9 + 0.75 * len(lengths) * cols, 0.6 + 0.55 * len(depths) * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        cells = grid.get((name, distractors), {})
        rate = np.full((len(depths), len(lengths)), np.nan)
        for (length, depth), (k, n) in cells.items():
            rate[depths.index(depth), lengths.index(length)] = k / n
            ax.text(
                lengths.index(length),
                depths.index(depth),
                f"{k}/{n}",
                ha="center",
                va="center",
                fontsize=7,
            )
        ax.imshow(rate, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(lengths)), [f"{int(x)}" for x in lengths], fontsize=7)
        ax.set_yticks(range(len(depths)), [f"{d:g}" for d in depths], fontsize=7)
        ax.set_title(name, fontsize=9)
        if i % cols == 0:
            ax.set_ylabel("depth", fontsize=8)
        if i >= len(names) - cols:
            ax.set_xlabel("prompt tokens", fontsize=8)
    fig.suptitle(
        f"exact recall, {int(distractors)} distractor fact(s) (colour: rate; text: recalled/trials)",
        fontsize=10,
    )
    FigureCanvasAgg(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def grid_table(
    cells: dict[Cell, tuple[int, int]], lengths: list[float], depths: list[float]
) -> list[str]:
    rows = [
        [
            f"{depth:g}",
            *(
                "{}/{}".format(*cells[length, depth]) if (length, depth) in cells else "-"
                for length in lengths
            ),
        ]
        for depth in depths
    ]
    return markdown.table(["depth", *(f"{int(x)} tokens" for x in lengths)], rows).split("\n")


def memory_table(
    records: list[dict[str, Any]], names: list[str], lengths: list[float]
) -> list[str]:
    """Mean bytes held at the end of a trial, per condition and length, in MB."""
    rows = []
    for name in names:
        row = [f"`{name}`"]
        for length in lengths:
            b = [
                r["outcome"]["memory_bytes"]
                for r in records
                if r["condition"] == name and r["outcome"]["length"] == length
            ]
            row.append(f"{np.mean(b) / 1e6:.1f}" if b else "-")
        rows.append(row)
    return markdown.table(["condition", *(f"{int(x)} tokens" for x in lengths)], rows).split("\n")


def left_window(records: list[dict[str, Any]]) -> set[str]:
    """The items whose fact some condition had evicted from every layer's cache."""
    return {r["item"] for r in records if r["outcome"]["evicted"]}


def window_split_table(records: list[dict[str, Any]], names: list[str]) -> list[str]:
    """Recall per condition on the items whose fact some condition evicted (it left the window)
    and on the items whose fact no condition evicted (it stayed in every window)."""
    left = left_window(records)
    rows = []
    for name in names:
        row = [f"`{name}`"]
        for gone in (True, False):
            hits = [
                bool(r["outcome"]["correct"])
                for r in records
                if r["condition"] == name and (r["item"] in left) == gone
            ]
            row.append(f"{sum(hits)}/{len(hits)}")
        rows.append(row)
    header = ["condition", "fact left the window", "fact stayed in the window"]
    return markdown.table(header, rows).split("\n")


def retrieval_table(records: list[dict[str, Any]], names: list[str]) -> list[str]:
    """Over trials whose fact had been evicted: fact's block read, and recall when read / not read."""
    rows = []
    for name in names:
        gone = [r["outcome"] for r in records if r["condition"] == name and r["outcome"]["evicted"]]
        read = [o for o in gone if o["fact_read"]]
        unread = [o for o in gone if not o["fact_read"]]
        rows.append(
            [
                f"`{name}`",
                len(gone),
                f"{len(read)}/{len(gone)}",
                f"{sum(o['correct'] for o in read)}/{len(read)}",
                f"{sum(o['correct'] for o in unread)}/{len(unread)}",
            ]
        )
    header = [
        "condition",
        "evicted trials",
        "fact's block read",
        "recalled when read",
        "recalled when not read",
    ]
    return markdown.table(header, rows).split("\n")


def reply_examples(records: list[dict[str, Any]], names: list[str], per_set: int = 3) -> list[str]:
    """The first `per_set` items whose fact left the window, then the first whose fact stayed: each
    item's cell and every condition's reply (JSON-quoted, marked recalled or not)."""
    left = left_window(records)
    by_item: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in sorted(records, key=lambda r: r["index"]):
        by_item[r["item"]][r["condition"]] = r["outcome"]
    lines = []
    for gone, title in ((True, "Fact left the window"), (False, "Fact stayed in the window")):
        lines += [f"### {title}", ""]
        for item in [i for i in by_item if (i in left) == gone][:per_set]:
            cell = next(iter(by_item[item].values()))
            lines.append(
                f"- {item} ({int(cell['length'])} tokens, depth {cell['depth']:g}, "
                f"{int(cell['distractors'])} distractors):"
            )
            for name in names:
                if name in by_item[item]:
                    o = by_item[item][name]
                    mark = "recalled" if o["correct"] else "missed"
                    lines.append(f"  - `{name}` ({mark}): `` {json.dumps(o.get('reply', ''))} ``")
        lines.append("")
    return lines


def paired_difference_ci(
    a: np.ndarray, b: np.ndarray, z: float = 1.959964
) -> tuple[float, float, float]:
    """Bonett and Price's (2012) adjusted Wald interval for the difference of two paired proportions
    (one added success to each discordant cell, two to n): (a's rate - b's rate, CI low, CI high)."""
    n = a.size
    p10, p01 = (np.sum(a & ~b) + 1) / (n + 2), (np.sum(~a & b) + 1) / (n + 2)
    se = np.sqrt((p10 + p01 - (p10 - p01) ** 2) / (n + 2))
    return float(a.mean() - b.mean()), float(p10 - p01 - z * se), float(p10 - p01 + z * se)


def noninferiority(records: list[dict[str, Any]], a: str, b: str, margin: float) -> list[str]:
    """`a` against `b` on recall over the items both ran: the paired difference a - b with its 95% CI
    (`paired_difference_ci`), and whether the CI's lower bound lies above -margin (non-inferior)."""
    by = {
        name: {r["item"]: bool(r["outcome"]["correct"]) for r in records if r["condition"] == name}
        for name in (a, b)
    }
    items = sorted(set(by[a]) & set(by[b]))
    if len(items) < 2:
        return [f"`{a}` against `{b}`: fewer than two items ran both; nothing to say."]
    x, y = (np.array([by[name][i] for i in items]) for name in (a, b))
    value, low, high = paired_difference_ci(x, y)
    verdict = "non-inferior" if low > -margin else "non-inferiority not shown"
    return [
        f"`{a}` recalls {int(x.sum())}/{len(items)}, `{b}` {int(y.sum())}/{len(items)} on the items both ran; "
        f"paired difference {value:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}] (Bonett-Price adjusted Wald); "
        f"margin -{margin:g}: **{verdict}**."
    ]


def write(run: Path, out: Path, noninferior: tuple[str, str, float] | None = None) -> Path:
    """Write the heatmaps and `needle.md` for run directory `run` into `out` (with the non-inferiority of
    condition a to b at a margin, if given); return the page's path."""
    records = load(run)
    names, grid = conditions(records), recall_grid(records)
    lengths, depths, distractor_counts = axes(records)
    lines = [
        f"# Needle in a haystack: recall by depth and length ({run})",
        "",
        "Descriptions only (the tests are in the study's own report). Each cell: trials recalled / "
        "trials, by the cell's nominal prompt length and depth.",
        "",
    ]
    for d in distractor_counts:
        png = heatmap(grid, names, lengths, depths, d, out / f"needle-heatmap-{int(d)}.png")
        lines += [
            f"## {int(d)} distractor fact(s)",
            "",
            f"![recall heatmap, {int(d)} distractors]({png.name})",
            "",
        ]
        for name in names:
            lines += [f"`{name}`:", "", *grid_table(grid.get((name, d), {}), lengths, depths), ""]
    lines += [
        "## Memory held at the end of a trial (MB: cache plus consolidated state)",
        "",
        *memory_table(records, names, lengths),
        "",
        "## Recall where the fact left the window and where it stayed",
        "",
        "Items split by whether any condition had evicted the fact from every layer's cache by the end "
        "of the prompt (the windowed conditions share one window); each condition's recall on both sets.",
        "",
        *window_split_table(records, names),
        "",
        "## Retrieval check: found, and used?",
        "",
        "Over the trials whose fact had left every layer's cache by the end of the prompt: whether a "
        "block read when the question was asked held the value's last token, and recall with and without.",
        "",
        *retrieval_table(records, names),
        "",
        "## Replies",
        "",
        *reply_examples(records, names),
    ]
    if noninferior:
        lines += [
            "## Non-inferiority (pre-registered in the prereg's exploratory list)",
            "",
            *noninferiority(records, *noninferior),
            "",
        ]
    return write_atomic(out / "needle.md", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Depth x length recall heatmaps of a needle study run."
    )
    parser.add_argument("run", type=Path, help="the run directory (hebbian study --out)")
    parser.add_argument("out", type=Path, help="the folder to write needle.md and the PNGs into")
    parser.add_argument(
        "--noninferiority",
        nargs=3,
        metavar=("A", "B", "MARGIN"),
        help="also judge A non-inferior to B in recall at this margin (e.g. episodic full_cache 0.10)",
    )
    args = parser.parse_args(argv)
    ni = args.noninferiority
    try:
        print(write(args.run, args.out, (ni[0], ni[1], float(ni[2])) if ni else None))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
