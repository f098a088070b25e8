"""hebbian.studies.needle_report on hand-made trials: counts per cell, tables, retrieval check, figures."""

import json

import numpy as np
import pytest

from hebbian.studies import needle_report


def trial(
    item, condition, length, depth, distractors, correct, evicted=False, fact_read=False, nbytes=1e6
):
    return {
        "item": f"needle-{item:05d}",
        "index": item,
        "condition": condition,
        "seed": 1,
        "outcome": {
            "correct": correct,
            "length": float(length),
            "depth": depth,
            "distractors": float(distractors),
            "evicted": evicted,
            "fact_read": fact_read,
            "memory_bytes": nbytes,
            "logprob": -1.0,
            "reply": f"{condition} says {item}",
        },
    }


@pytest.fixture
def run(tmp_path):
    records = [
        trial(0, "full_cache", 1024, 0.1, 0, True),
        trial(0, "episodic", 1024, 0.1, 0, True),
        trial(1, "full_cache", 1024, 0.1, 0, False),
        trial(1, "episodic", 1024, 0.1, 0, True),
        trial(2, "full_cache", 2048, 0.9, 3, True, nbytes=3e6),
        trial(2, "episodic", 2048, 0.9, 3, False, evicted=True, fact_read=True, nbytes=2e6),
        trial(3, "full_cache", 2048, 0.1, 0, True),
        trial(3, "episodic", 2048, 0.1, 0, True, evicted=True, fact_read=True),
    ]
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:6]))
    (directory / "trials.shard-1-of-2.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records[4:])
    )
    return directory


def test_counts_every_trial_once_across_logs_by_cell(run):
    records = needle_report.load(run)
    assert len(records) == 8  # trials 4 and 5 are in both logs: counted once
    grid = needle_report.recall_grid(records)
    assert grid["full_cache", 0.0][1024.0, 0.1] == (1, 2)
    assert grid["episodic", 0.0][1024.0, 0.1] == (2, 2)
    assert grid["episodic", 3.0] == {(2048.0, 0.9): (0, 1)}
    assert needle_report.conditions(records) == ["full_cache", "episodic"]
    assert needle_report.axes(records) == ([1024.0, 2048.0], [0.1, 0.9], [0.0, 3.0])


def test_writes_heatmaps_and_tables(run, tmp_path):
    page = needle_report.write(run, tmp_path / "out")
    text = page.read_text()
    for d in (0, 3):
        png = tmp_path / "out" / f"needle-heatmap-{d}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in text
    # full cache, no distractors: 1024 and 2048 tokens at depth 0.1
    assert "| 0.1 | 1/2 | 1/1 |" in text
    assert "| 0.9 | - | 0/1 |" in text  # episodic with 3 distractors; 1024 tokens has no trial
    assert "| `episodic` | 1.0 | 1.5 |" in text  # MB at 1024 and 2048 tokens
    # items 2 and 3 left episodic's window, so they split every condition's trials
    assert "| `full_cache` | 2/2 | 1/2 |" in text
    assert "| `episodic` | 1/2 | 2/2 |" in text
    assert "| `episodic` | 2 | 2/2 | 1/2 | 0/0 |" in text  # found twice, used once
    assert "| `full_cache` | 0 | 0/0 | 0/0 | 0/0 |" in text
    # the replies of the first items of each set, every condition's
    left, stayed = text.split("### Fact left the window")[1].split("### Fact stayed in the window")
    assert "- needle-00002 (2048 tokens, depth 0.9, 3 distractors):" in left
    assert '- `episodic` (missed): `` "episodic says 2" ``' in left
    assert "needle-00003" in left and "needle-00000" not in left
    assert '- `full_cache` (recalled): `` "full_cache says 0" ``' in stayed
    assert "needle-00002" not in stayed


def test_an_empty_run_is_refused_with_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert needle_report.main([str(tmp_path / "run"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_paired_interval_is_bonett_and_prices():
    a = np.array([True] * 5 + [False] * 3 + [True] * 30 + [False] * 2)  # 5 a-only, 3 b-only of 40
    b = np.array([False] * 5 + [True] * 3 + [True] * 30 + [False] * 2)
    value, low, high = needle_report.paired_difference_ci(a, b)
    p10, p01 = 6 / 42, 4 / 42  # one added to each discordant cell, two to n
    se = np.sqrt((p10 + p01 - (p10 - p01) ** 2) / 42)
    assert value == pytest.approx(2 / 40)
    assert (low, high) == pytest.approx((p10 - p01 - 1.959964 * se, p10 - p01 + 1.959964 * se))


def test_noninferiority_reads_the_paired_ci_against_the_margin():
    records = [
        trial(i, c, 1024, 0.5, 0, ok)
        for i in range(80)
        for c, ok in (("full_cache", i % 4 != 0), ("episodic", i % 4 != 0 and i not in (1, 2)))
    ]
    close = needle_report.noninferiority(records, "episodic", "full_cache", 0.10)[0]
    assert (
        "58/80" in close and "60/80" in close and "-0.025" in close and "**non-inferior**" in close
    )
    # the same split at half the items: too wide to tell
    few = [r for r in records if r["index"] < 40]
    assert (
        "non-inferiority not shown"
        in needle_report.noninferiority(few, "episodic", "full_cache", 0.10)[0]
    )
    assert (
        "fewer than two"
        in needle_report.noninferiority(records[:2], "episodic", "full_cache", 0.10)[0]
    )


def test_the_command_line_writes_the_noninferiority_section(run, tmp_path):
    assert (
        needle_report.main(
            [str(run), str(tmp_path / "out"), "--noninferiority", "episodic", "full_cache", "0.1"]
        )
        == 0
    )
    assert "## Non-inferiority" in (tmp_path / "out" / "needle.md").read_text()
