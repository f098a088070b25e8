"""From trial records to the pre-registered answers.

``align`` pairs the records by item across conditions (an item with any
excluded trial is dropped from every comparison; one missing a condition is
incomplete). ``decide`` runs each hypothesis's pre-registered test from
``hebbian.stats`` and corrects within its family: this is all a decision
rests on, and what the power simulations call. ``check_validity`` applies the
pre-registered control criterion. ``summarize`` and ``describe`` add what the
report shows beside the decision: per-condition rates or means with CIs,
bootstrap CIs of the paired differences, Cohen's h, and Fisher's exact test
alongside McNemar where the pre-registration asks for it. ``fluency`` gives
each condition's degenerate-reply rate and reply examples where the trials
record them, whether or not the pre-registration names them as outcomes.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from hebbian import stats
from hebbian.studies.prereg import Hypothesis, Prereg

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Outcomes:
    """``values[condition][metric][i]`` is the outcome of item ``items[i]``, the same items for every condition."""

    items: tuple[str, ...]
    values: Mapping[str, Mapping[str, np.ndarray]]
    excluded: Mapping[str, str]
    incomplete: int

    @property
    def n(self) -> int:
        return len(self.items)

    def pair(self, h: Hypothesis) -> tuple[np.ndarray, np.ndarray]:
        return self.values[h.a][h.outcome], self.values[h.b][h.outcome]


def align(
    prereg: Prereg, records: Iterable[Mapping[str, Any]], n_items: int | None = None
) -> Outcomes:
    """Pair the records of the first ``n_items`` items (all when None) across the prereg's conditions."""
    by_item: dict[str, dict[str, Mapping]] = defaultdict(dict)
    index = {}
    for r in records:
        if n_items is None or r["index"] < n_items:
            by_item[r["item"]][r["condition"]] = r
            index[r["item"]] = r["index"]
    names = [c.name for c in prereg.conditions]
    excluded, complete, incomplete = {}, [], 0
    for item in sorted(by_item, key=index.__getitem__):
        trials = by_item[item]
        reasons = [trials[c]["excluded"] for c in names if "excluded" in trials.get(c, {})]
        if reasons:
            excluded[item] = reasons[0]
        elif all(c in trials for c in names):
            complete.append(item)
        else:
            incomplete += 1
    values = {
        c: {
            o.name: np.array(
                [by_item[i][c]["outcome"][o.name] for i in complete],
                dtype=bool if o.type == "binary" else float,
            )
            for o in prereg.outcomes
        }
        for c in names
    }
    return Outcomes(tuple(complete), values, excluded, incomplete)


# ------------------------------------------------------------------ decision


@dataclass(frozen=True)
class Inference:
    """A hypothesis's pre-registered test, its family-corrected p and whether H0 is rejected at alpha."""

    hypothesis: Hypothesis
    n: int
    result: stats.TestResult | None
    note: str = ""
    p_corrected: float | None = None
    reject: bool = False
    observed: str = "none"  # which way the data point: 'greater' (a > b), 'less' or 'none'


def rate_table(a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """[[a right, a wrong], [b right, b wrong]]: the unpaired 2x2 table Fisher's test takes."""
    return [[int(a.sum()), int(a.size - a.sum())], [int(b.sum()), int(b.size - b.sum())]]


def run_test(h: Hypothesis, a: np.ndarray, b: np.ndarray) -> tuple[stats.TestResult | None, str]:
    """The pre-registered test of ``h`` on aligned samples, or None and why it cannot be computed."""
    if a.size < 2:
        return None, f"too few items to test (n = {a.size})"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if h.test == "mcnemar":
            result = stats.mcnemar(stats.paired_table(a, b))
        elif h.test == "fisher":
            result = stats.fisher_exact(rate_table(a, b), h.alternative)
        else:
            result = getattr(stats, h.test)(a, b, h.alternative)
    if not np.isfinite(result.p_value):
        return None, "the test is undefined on these data (no variation)"
    return result, ""


def _observed(a: np.ndarray, b: np.ndarray) -> str:
    diff = float(np.mean(a.astype(float) - b.astype(float))) if a.size else 0.0
    return "greater" if diff > 0 else "less" if diff < 0 else "none"


def decide(prereg: Prereg, outcomes: Outcomes) -> tuple[Inference, ...]:
    """Test every hypothesis and correct within each family; an untestable one counts as p = 1 there."""
    tested = {}
    for h in prereg.hypotheses:
        a, b = outcomes.pair(h)
        tested[h.id] = (*run_test(h, a, b), _observed(a, b))
    inferences = {}
    for family in dict.fromkeys(h.family for h in prereg.hypotheses):
        members = prereg.family(family)
        p = [tested[h.id][0].p_value if tested[h.id][0] else 1.0 for h in members]
        corrected = stats.correct(p, members[0].method, members[0].alpha)
        for h, p_adj, reject in zip(members, corrected.p_values, corrected.reject, strict=True):
            result, note, observed = tested[h.id]
            inferences[h.id] = Inference(
                h,
                outcomes.n,
                result,
                note,
                p_adj if result else None,
                bool(reject and result),
                observed,
            )
    return tuple(inferences[h.id] for h in prereg.hypotheses)


# ------------------------------------------------------------------ controls


@dataclass(frozen=True)
class ValidityCheck:
    """The control criterion applied: ``passed`` is None when there is no criterion or no data."""

    passed: bool | None
    lines: tuple[str, ...]


def check_validity(prereg: Prereg, outcomes: Outcomes) -> ValidityCheck:
    """Does the positive control meet its pre-registered criterion (and stand above the negative one)?"""
    v = prereg.validity
    if v is None:
        return ValidityCheck(None, ("no validity criterion was pre-registered",))
    if outcomes.n == 0:
        return ValidityCheck(None, ("no complete items yet",))
    pos_name = prereg.role("positive_control").name
    neg = prereg.role("negative_control")
    pos = float(np.mean(outcomes.values[pos_name][v.outcome]))
    checks = [
        (
            f"positive control {pos_name}: mean {v.outcome} {pos:.3f} >= {v.positive_min:g}",
            pos >= v.positive_min,
        )
    ]
    if neg is not None:
        neg_mean = float(np.mean(outcomes.values[neg.name][v.outcome]))
        if v.negative_max is not None:
            checks.append(
                (
                    f"negative control {neg.name}: mean {v.outcome} {neg_mean:.3f} <= {v.negative_max:g}",
                    neg_mean <= v.negative_max,
                )
            )
        if v.min_gap is not None:
            checks.append(
                (
                    f"gap {pos_name} - {neg.name}: {pos - neg_mean:.3f} >= {v.min_gap:g}",
                    pos - neg_mean >= v.min_gap,
                )
            )
    lines = tuple(f"{'pass' if ok else 'FAIL'}: {text}" for text, ok in checks)
    return ValidityCheck(all(ok for _, ok in checks), lines)


# --------------------------------------------------------------- description


@dataclass(frozen=True)
class Summary:
    """One condition on one metric: n, mean (a rate for binary outcomes), its CI, and successes if binary."""

    condition: str
    role: str
    n: int
    mean: float | None
    ci: tuple[float, float] | None
    successes: int | None = None


def summary(condition: str, role: str, x: np.ndarray, binary: bool) -> Summary:
    """A rate with its Wilson CI (binary ``x``) or a mean with its t CI."""
    if x.size == 0:
        return Summary(condition, role, 0, None, None)
    if binary:
        k = int(x.sum())
        ci = sps.binomtest(k, x.size).proportion_ci(CONFIDENCE, method="wilson")
        return Summary(condition, role, x.size, k / x.size, (ci.low, ci.high), k)
    ci = (
        sps.ttest_1samp(x, 0.0).confidence_interval(CONFIDENCE)
        if x.size > 1 and np.ptp(x) > 0
        else None
    )
    return Summary(condition, role, x.size, float(x.mean()), (ci.low, ci.high) if ci else None)


def summarize(prereg: Prereg, outcomes: Outcomes, metric: str) -> tuple[Summary, ...]:
    """Every condition's rate (Wilson CI) or mean (t CI) on ``metric``."""
    binary = prereg.outcome(metric).type == "binary"
    return tuple(
        summary(c.name, c.role, outcomes.values[c.name][metric], binary) for c in prereg.conditions
    )


@dataclass(frozen=True)
class Fluency:
    """One condition's replies: degenerate rate, mean rep-4 and distinct-2, and (item, reply) examples."""

    degenerate: Summary
    rep4: Summary
    distinct2: Summary
    examples: tuple[tuple[str, str], ...]


def fluency(
    prereg: Prereg, records: Iterable[Mapping[str, Any]], outcomes: Outcomes, examples: int = 3
) -> dict[str, Fluency]:
    """Each condition's reply fluency over the analysed items whose trials record it (``studies.fluency``).

    Empty when no trial records it (a task that does not generate, or a log written before it was
    recorded); a trial without it (an older one in a resumed log) is left out of its condition.
    The examples are the replies of the first ``examples`` analysed items that record one.
    """
    analysed = set(outcomes.items)
    kept = [r for r in records if r["item"] in analysed and "degenerate" in r.get("outcome", {})]
    if not kept:
        return {}
    order = {item: i for i, item in enumerate(outcomes.items)}
    out = {}
    for c in prereg.conditions:
        mine = sorted((r for r in kept if r["condition"] == c.name), key=lambda r: order[r["item"]])
        values = {
            name: np.array(
                [r["outcome"][name] for r in mine], dtype=bool if name == "degenerate" else float
            )
            for name in ("degenerate", "rep4", "distinct2")
        }
        replies = tuple((r["item"], r["outcome"]["reply"]) for r in mine if "reply" in r["outcome"])
        out[c.name] = Fluency(
            *(summary(c.name, c.role, x, name == "degenerate") for name, x in values.items()),
            replies[:examples],
        )
    return out


@dataclass(frozen=True)
class Description:
    """What the report shows beside a hypothesis's decision."""

    # mean of a - b with its bootstrap CI (a rate difference if binary)
    difference: stats.EffectSize | None
    cohens_h: stats.EffectSize | None
    fisher: stats.TestResult | None


def describe(prereg: Prereg, outcomes: Outcomes, h: Hypothesis) -> Description:
    a, b = outcomes.pair(h)
    diff = a.astype(float) - b.astype(float)
    binary = prereg.outcome(h.outcome).type == "binary"
    difference = (
        stats.bootstrap_paired_diff_ci(a.astype(float), b.astype(float), confidence=CONFIDENCE)
        if diff.size > 1 and np.ptp(diff) > 0
        else None
    )
    cohens_h = (
        stats.cohens_h(a.mean(), b.mean(), a.size, b.size, CONFIDENCE)
        if binary and a.size
        else None
    )
    fisher = (
        stats.fisher_exact(rate_table(a, b), h.alternative) if h.also_fisher and a.size else None
    )
    return Description(difference, cohens_h, fisher)
