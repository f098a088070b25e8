"""The analysis behind the report (power and alpha by simulation) and the report's text and figures."""

import gc
import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint
from test_prereg import example, write_prereg
from test_runner import crash_after

from hebbian import stats
from hebbian.studies import power, report
from hebbian.studies.analysis import align, decide
from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.prereg import parse_prereg
from hebbian.studies.report import write_report
from hebbian.studies.runner import pending, run_study, run_trial
from hebbian.studies.tasks.synthetic import SyntheticTask
from hebbian.studies.trials import read_trials

# --------------------------------------------------------------- simulations


def two_condition_prereg(test, outcome, sesoi, treatment, baseline):
    """A one-hypothesis study: treatment vs baseline, two-sided at alpha 0.05, n planned for power 0.8."""
    return parse_prereg(
        {
            "id": "sim",
            "title": "simulation",
            "version": 1,
            "task": {"name": "synthetic", "params": {"noise_sd": 1.0, "item_sd": 1.0}},
            "conditions": {
                "treatment": {"role": "treatment", "config": treatment},
                "baseline": {"role": "baseline", "config": baseline},
            },
            "outcomes": {"correct": {"type": "binary"}, "logprob": {"type": "continuous"}},
            "hypotheses": [
                {
                    "id": "H1",
                    "statement": "treatment beats baseline",
                    "kind": "primary",
                    "compare": ["treatment", "baseline"],
                    "outcome": outcome,
                    "direction": "greater",
                    "sidedness": "two-sided",
                    "test": test,
                    "alpha": 0.05,
                    "sesoi": sesoi,
                }
            ],
            "sample_size": {"power": 0.8},
            "seeds": {"items": 0, "trials": 0},
            "stopping_rule": "fixed n",
        }
    )


def rejection_rate(prereg, studies=200):
    """Share of simulated studies (fresh item and trial seeds each) whose decision rejects H0."""
    # statsmodels' Holm runs gc.collect() on every call: keep it from scanning the whole process
    gc.freeze()
    try:
        rejected = 0
        for s in range(studies):
            p = replace(prereg, item_seed=1000 + s, trial_seed=5000 + s)
            task = p.make_task()
            records = [
                run_trial(p, task, item, c)
                for item, c in pending(p, task.items(p.planned_n), set())
            ]
            rejected += decide(p, align(p, records))[0].reject
        return rejected / studies
    finally:
        gc.unfreeze()


SHIFT = 0.5 * math.sqrt(2)  # d_z = shift / (noise_sd * sqrt 2) = 0.5


def test_a_known_paired_effect_is_detected_at_the_planned_power():
    prereg = two_condition_prereg(
        "paired_t",
        "logprob",
        {"effect": 0.5},
        {"p_correct": 0.5, "logprob_shift": SHIFT},
        {"p_correct": 0.5},
    )
    assert prereg.planned_n == 34
    planned = power.achieved_power("paired_t", 0.5, 34)
    assert rejection_rate(prereg) == pytest.approx(planned, abs=0.08)


def test_no_effect_is_rejected_at_about_alpha():
    prereg = two_condition_prereg(
        "paired_t", "logprob", {"effect": 0.5}, {"p_correct": 0.5}, {"p_correct": 0.5}
    )
    assert 0.01 <= rejection_rate(prereg) <= 0.09


def test_a_known_recall_effect_is_detected_by_mcnemar_at_about_the_planned_power():
    pa, pb = 0.6, 0.3  # independent draws: p10 = pa (1 - pb), p01 = pb (1 - pa)
    prereg = two_condition_prereg(
        "mcnemar",
        "correct",
        {"p10": pa * (1 - pb), "p01": pb * (1 - pa)},
        {"p_correct": pa},
        {"p_correct": pb},
    )
    # Connor's n is for the uncorrected test; the exact test used here loses a few points of power
    assert 0.68 <= rejection_rate(prereg) <= 0.88


def test_mcnemar_under_no_effect_stays_below_alpha():
    prereg = two_condition_prereg(
        "mcnemar", "correct", {"p10": 0.42, "p01": 0.12}, {"p_correct": 0.3}, {"p_correct": 0.3}
    )
    assert rejection_rate(prereg) <= 0.07


# -------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The example study run in full, with K consolidation made harmful so that H2 goes against its prediction."""
    data = example()
    data["conditions"]["hebbian_k"]["config"]["p_correct"] = 0.12
    folder = tmp_path_factory.mktemp("full")
    run = run_study(write_prereg(folder, data), out=folder / "run")
    return run, write_report(run).read_text()


def test_report_states_each_decision_with_the_corrected_p_that_backs_it(full_run):
    run, text = full_run
    records, _ = read_trials(run / "trials.jsonl")
    prereg = parse_prereg(example())
    outcomes = {}
    for r in records:
        outcomes.setdefault(r["condition"], {})[r["index"]] = r["outcome"]

    def values(condition, metric):
        return np.array([outcomes[condition][i][metric] for i in range(201)])

    base_correct = values("sliding_window", "correct")
    p_recall = [
        stats.mcnemar(stats.paired_table(values(c, "correct"), base_correct)).p_value
        for c in ("hebbian_v", "hebbian_k")
    ]
    p_logprob = [
        stats.paired_t(values(c, "logprob"), values("sliding_window", "logprob"), "greater").p_value
        for c in ("hebbian_v", "hebbian_k")
    ]
    recall, logprob = stats.correct(p_recall, "holm"), stats.correct(p_logprob, "holm")
    assert recall.reject == (True, True) and logprob.reject == (True, False)
    decisions = re.findall(r"\*\*decision: (.*)\*\*", text)
    assert (
        decisions[0]
        == f"rejected H0 at corrected p = {recall.p_values[0]:.4f} (holm in family recall, alpha 0.05)"
    )
    assert decisions[1].startswith(f"rejected H0 at corrected p = {recall.p_values[1]:.4f}")
    assert decisions[1].endswith(
        "the difference points against the predicted direction, so the hypothesis is not supported"
    )
    assert (
        decisions[2].startswith("rejected H0 at corrected p = ")
        and "family logprob" in decisions[2]
    )
    assert (
        decisions[3] == f"did not reject H0 (corrected p = {logprob.p_values[1]:.4f}, alpha 0.05)"
    )
    assert "significant" not in text.lower()
    assert prereg.planned_n == 201


def test_report_summarizes_the_prereg_power_controls_and_provenance(full_run):
    run, text = full_run
    sha = (run / "prereg.sha256").read_text().split()[0]
    head = text.split("## Pre-registration")[0]
    assert (
        sha in head and "UNDERPOWERED" not in head and "SMOKE" not in head and "INVALID" not in head
    )
    sections = re.findall(r"^## (.*)$", text, flags=re.M)
    assert sections == [
        "Pre-registration",
        "Sample size and power",
        "Controls",
        "Hypotheses",
        "Figures",
        "Exploratory analyses",
        "Deviations",
        "Software and reproducibility",
    ]
    assert "- planned: 201 items" in text and "analysed 201 complete items, 0 excluded" in text
    assert "Task validity: valid" in text
    # also_fisher is set on H1 and H2 only
    assert text.count("| alongside (ignores pairing; not decisive) | Fisher's exact |") == 2
    exploratory = text.split("## Exploratory analyses")[1].split("##")[0]
    assert "Recall as a function of the fact's distance from the window edge." in exploratory
    for needle in (
        "- git: ",
        "- packages: hebbian",
        "mlx-lm",
        "statsmodels",
        "- seeds: items 20240601, trials 7",
    ):
        assert needle in text


def test_figures_are_pngs_linked_relative_to_the_report(full_run):
    run, text = full_run
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert links == [
        "report-figures/conditions-correct.png",
        "report-figures/differences-correct.png",
        "report-figures/conditions-logprob.png",
        "report-figures/differences-logprob.png",
    ]
    assert all((run / link).read_bytes().startswith(b"\x89PNG") for link in links)


def test_a_failed_positive_control_makes_the_task_invalid_not_a_null(tmp_path):
    data = example()
    data["sample_size"]["n"] = 30
    data["conditions"]["full_cache"]["config"]["p_correct"] = 0.3
    text = write_report(run_study(write_prereg(tmp_path, data), out=tmp_path / "run")).read_text()
    head = text.split("## Pre-registration")[0]
    assert "**THE TASK IS INVALID" in head and "**UNDERPOWERED: H1 has power" in head
    assert "FAIL: positive control full_cache" in text
    assert "did not reject" not in text and "rejected H0" not in text
    assert (
        text.count(
            "no decision (the task is invalid: the positive control failed its validity criterion)"
        )
        == 4
    )


def test_an_unfinished_run_claims_nothing(tmp_path, monkeypatch):
    data = example()
    data["sample_size"]["n"] = 10
    crash_after(monkeypatch, 27)
    with pytest.raises(RuntimeError):
        run_study(write_prereg(tmp_path, data), out=tmp_path / "run")
    text = write_report(tmp_path / "run").read_text()
    assert "**UNFINISHED RUN: 5 of 10 planned items" in text
    assert text.count("no decision (unfinished run)") == 4 and "rejected H0" not in text


def test_a_zero_over_zero_statistic_reads_undefined_not_nan():
    # Fisher's odds ratio when neither condition has a success (recall at 0 in both)
    odds = stats.fisher_exact([[0, 20], [0, 20]])
    row = " ".join(report._test_row("alongside", odds, "n/a"))
    assert "nan" not in row and row.count(report.UNDEFINED) == 2


# ------------------------------------------------------------------ fluency


def rewrite_with_replies(run, reply_of):
    """Rewrite the run's log as a generating task writes it: each record's reply and its fluency (None: an older
    record without them)."""
    records, _ = read_trials(run / "trials.jsonl")
    for r in records:
        reply = reply_of(r)
        if reply is not None:
            r["outcome"] = {**r["outcome"], **fluency_outcomes(reply), "reply": reply}
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def small_run(tmp_path):
    data = example()
    data["sample_size"]["n"] = 10
    return run_study(write_prereg(tmp_path, data), out=tmp_path / "run")


def test_report_gives_each_conditions_degenerate_rate_with_a_wilson_ci_and_quotes_replies(tmp_path):
    run = small_run(tmp_path)

    def reply_of(r):
        if r["condition"] == "full_cache" and r["index"] == 0:
            return None
        if r["condition"] == "sliding_window":
            return "\n\n\n" if r["index"] < 4 else "The code was 4821."
        return "I am glad to help. " * 5 if r["condition"] == "hebbian_v" else "42"

    rewrite_with_replies(run, reply_of)
    text = write_report(run).read_text()
    sections = re.findall(r"^## (.*)$", text, flags=re.M)
    assert sections.index("Fluency of the replies") == sections.index("Hypotheses") + 1
    rows = {
        line.split(" | ")[0].strip("| `"): line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| `") and "degenerate" not in line and line.count("|") == 11
    }
    low, high = proportion_confint(4, 10, method="wilson")
    assert rows["sliding_window"][2:6] == ["10", "4", "0.400", f"[{low:.3f}, {high:.3f}]"]
    # the older record without a reply is left out
    assert rows["full_cache"][2:5] == ["9", "0", "0.000"]
    assert rows["hebbian_v"][3:5] == ["10", "1.000"]
    assert '- `sliding_window`, syn-00000: `` "\\n\\n\\n" ``' in text
    # three examples a condition
    assert '- `sliding_window`, syn-00004: `` "The code was 4821." ``' not in text
    assert '- `full_cache`, syn-00001: `` "42" ``' in text


def test_a_generating_task_whose_trials_predate_fluency_says_it_was_not_recorded(
    tmp_path, monkeypatch
):
    run = small_run(tmp_path)
    # a task that does not generate
    assert "## Fluency of the replies" not in write_report(run).read_text()
    monkeypatch.setattr(SyntheticTask, "metrics", {**SyntheticTask.metrics, "degenerate": "binary"})
    text = write_report(run).read_text()
    assert "Not recorded: these trials predate the fluency outcomes" in text


def test_a_long_reply_is_quoted_on_one_line_and_cut():
    quoted = report.quote_reply("loop\n" * 100, limit=10)
    assert quoted == '`` "loop\\nloop\\n" `` ... (500 characters)'


def test_a_binary_hypothesis_counts_its_own_outcome_in_the_condition_table(tmp_path, monkeypatch):
    monkeypatch.setattr(SyntheticTask, "metrics", {**SyntheticTask.metrics, "degenerate": "binary"})
    run_trial = SyntheticTask.run_trial
    monkeypatch.setattr(
        SyntheticTask,
        "run_trial",
        lambda *a, **k: {**run_trial(*a, **k), "degenerate": False},
    )
    data = example()
    data["sample_size"]["n"] = 10
    data["outcomes"]["degenerate"] = {"type": "binary", "description": "the reply is broken"}
    data["hypotheses"][0]["outcome"] = "degenerate"
    data["hypotheses"][0]["correction"] = {"family": "degenerate", "method": "holm"}
    run = run_study(write_prereg(tmp_path, data), out=tmp_path / "run")
    rewrite_with_replies(run, lambda r: "\n\n" if r["condition"] == "hebbian_v" else "4821")
    text = write_report(run).read_text()
    h1 = text.split("### H1")[1].split("### H2")[0]
    assert "| condition | role | n | degenerate | rate | 95% CI (Wilson) |" in h1
    assert "| `hebbian_v` | treatment | 10 | 10 | 1.000 |" in h1
    h2 = text.split("### H2")[1]
    assert "| condition | role | n | correct | rate | 95% CI (Wilson) |" in h2
