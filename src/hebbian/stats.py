"""Hypothesis tests, effect sizes and multiple-comparison corrections.

Shared by the studies and research modules. Every function is a thin,
validating wrapper over scipy or statsmodels: tests return a frozen
``TestResult``, effect sizes an ``EffectSize`` whose confidence interval is
always two-sided.

Conventions: paired functions take ``a`` and ``b`` as aligned samples (item
``i`` scored under condition a and under condition b), and
``alternative='greater'`` means a is larger than b. Paired 2x2 tables are laid
out ``[[both correct, a only], [b only, neither]]`` (see ``paired_table``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats
from scipy.stats.contingency import crosstab, odds_ratio
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_effectsize

ALTERNATIVES = ("two-sided", "greater", "less")
CORRECTIONS = ("holm", "bonferroni", "fdr_bh")


@dataclass(frozen=True)
class EffectSize:
    """An effect size and its two-sided confidence interval (None when none can be formed)."""

    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class TestResult:
    """Outcome of one hypothesis test; ``n`` counts observations (pairs for paired tests)."""

    __test__ = False  # not a pytest test class, despite the name

    test: str
    statistic: float
    p_value: float
    n: int
    effect: EffectSize | None = None
    extra: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Correction:
    """Multiplicity-adjusted p-values and which hypotheses are rejected at ``alpha``."""

    method: str
    alpha: float
    p_values: tuple[float, ...]
    reject: tuple[bool, ...]


# ---------------------------------------------------------------- validation


def check_alternative(alternative: str) -> str:
    """Return ``alternative`` if it is one of ALTERNATIVES, else raise ValueError."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def _check_fraction(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _sample(x: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"{name} must be a flat sequence of at least 2 numbers, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _sample(a, "a"), _sample(b, "b")
    if a.size != b.size:
        raise ValueError(f"paired samples must have the same length, got {a.size} and {b.size}")
    return a, b


def _counts(table: Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(table, dtype=float)
    if arr.shape != (2, 2):
        raise ValueError(f"table must be 2x2, got shape {arr.shape}")
    if (arr < 0).any():
        raise ValueError(f"table counts must be non-negative, got {arr.tolist()}")
    if not np.array_equal(arr, np.round(arr)):
        raise ValueError(f"table counts must be whole numbers, got {arr.tolist()}")
    if arr.sum() == 0:
        raise ValueError("table holds no observations")
    return arr.astype(int)


# --------------------------------------------------------------------- tests


def fisher_exact(
    table: Sequence[Sequence[int]], alternative: str = "two-sided", confidence: float = 0.95
) -> TestResult:
    """Fisher's exact test on a 2x2 table of counts, e.g. [[a right, a wrong], [b right, b wrong]].

    ``statistic`` is the sample odds ratio. ``effect`` is the conditional
    maximum-likelihood odds ratio with its exact interval
    (``scipy.stats.contingency.odds_ratio``), the estimate that belongs to
    Fisher's test.
    """
    counts = _counts(table)
    check_alternative(alternative)
    _check_fraction(confidence, "confidence")
    res = stats.fisher_exact(counts, alternative=alternative)
    ratio = odds_ratio(counts)
    ci = ratio.confidence_interval(confidence)
    effect = EffectSize(
        "conditional odds ratio", float(ratio.statistic), float(ci.low), float(ci.high), confidence
    )
    return TestResult(
        "fisher_exact", float(res.statistic), float(res.pvalue), int(counts.sum()), effect
    )


def paired_table(a: Sequence[bool], b: Sequence[bool]) -> np.ndarray:
    """Cross-tabulate two aligned correct/incorrect sequences as [[both, a only], [b only, neither]]."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"a and b must be flat sequences of the same length, got shapes {a.shape} and {b.shape}"
        )
    for name, arr in (("a", a), ("b", b)):
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans (or 0/1)")
    levels = ([True, False], [True, False])
    return crosstab(a.astype(bool), b.astype(bool), levels=levels).count


def mcnemar(
    table: Sequence[Sequence[int]],
    exact: bool = True,
    correction: bool = True,
    confidence: float = 0.95,
) -> TestResult:
    """McNemar's test (two-sided) on a paired table [[both, a only], [b only, neither]].

    Wraps ``statsmodels.stats.contingency_tables.mcnemar``: with ``exact`` the
    binomial test on the discordant pairs (``statistic`` = min(a only, b only)),
    otherwise the chi-square statistic, continuity-corrected if ``correction``.
    With no discordant pairs there is no evidence either way: statistic 0,
    p = 1 (statsmodels would report p = 0 for the chi-square version).
    ``effect`` is the matched-pairs odds ratio a only / b only with the exact
    (Clopper-Pearson) interval of a only / (a only + b only) mapped to odds.
    """
    counts = _counts(table)
    _check_fraction(confidence, "confidence")
    a_only, b_only = int(counts[0, 1]), int(counts[1, 0])
    n = int(counts.sum())
    name = "mcnemar_exact" if exact else "mcnemar_chi2"
    extra = {"a_only": a_only, "b_only": b_only, "accuracy_diff": (a_only - b_only) / n}
    if a_only + b_only == 0:
        return TestResult(name, 0.0, 1.0, n, None, extra)
    res = _sm_mcnemar(counts, exact=exact, correction=correction)
    effect = _matched_odds_ratio(a_only, b_only, confidence)
    return TestResult(name, float(res.statistic), float(res.pvalue), n, effect, extra)


def _matched_odds_ratio(a_only: int, b_only: int, confidence: float) -> EffectSize:
    ci = stats.binomtest(a_only, a_only + b_only).proportion_ci(confidence, method="exact")
    with np.errstate(divide="ignore"):
        value, low, high = np.divide([a_only, ci.low, ci.high], [b_only, 1 - ci.low, 1 - ci.high])
    return EffectSize(
        "matched-pairs odds ratio (a only / b only)",
        float(value),
        float(low),
        float(high),
        confidence,
    )


def paired_t(
    a: Sequence[float], b: Sequence[float], alternative: str = "two-sided", confidence: float = 0.95
) -> TestResult:
    """Paired t-test of a - b (``scipy.stats.ttest_rel``); effect is Cohen's d_z."""
    a, b = _pair(a, b)
    check_alternative(alternative)
    res = stats.ttest_rel(a, b, alternative=alternative)
    extra = {"df": float(res.df), "mean_diff": float(np.mean(a - b))}
    return TestResult(
        "paired_t",
        float(res.statistic),
        float(res.pvalue),
        a.size,
        cohens_dz(a, b, confidence),
        extra,
    )


def wilcoxon(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test of a - b (``scipy.stats.wilcoxon``, zero differences dropped).

    scipy's ``statistic`` is min(W+, W-) for two-sided and W+ for one-sided
    tests. If every difference is zero nothing can be ranked: the result is
    statistic 0, p = 1. ``extra['n_nonzero']`` counts the pairs that were ranked.
    """
    a, b = _pair(a, b)
    check_alternative(alternative)
    nonzero = int(np.count_nonzero(a - b))
    if nonzero == 0:
        return TestResult("wilcoxon", 0.0, 1.0, a.size, extra={"n_nonzero": 0})
    res = stats.wilcoxon(a, b, alternative=alternative)
    return TestResult(
        "wilcoxon", float(res.statistic), float(res.pvalue), a.size, extra={"n_nonzero": nonzero}
    )


def welch_t(
    a: Sequence[float], b: Sequence[float], alternative: str = "two-sided", confidence: float = 0.95
) -> TestResult:
    """Welch's unequal-variance t-test (``scipy.stats.ttest_ind``); effect is Cohen's d."""
    a, b = _sample(a, "a"), _sample(b, "b")
    check_alternative(alternative)
    res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    extra = {"df": float(res.df), "mean_diff": float(a.mean() - b.mean())}
    return TestResult(
        "welch_t",
        float(res.statistic),
        float(res.pvalue),
        a.size + b.size,
        cohens_d(a, b, confidence),
        extra,
    )


# -------------------------------------------------------------- effect sizes


def _noncentral_t_effect(
    name: str, value: float, scale: float, df: float, confidence: float
) -> EffectSize:
    """CI for a standardized effect whose t statistic is ``value * scale`` with noncentrality ``effect * scale``."""
    _check_fraction(confidence, "confidence")
    tail = (1 - confidence) / 2
    low, high = special.nctdtrinc(df, [1 - tail, tail], value * scale) / scale
    return EffectSize(name, float(value), float(low), float(high), confidence)


def cohens_d(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> EffectSize:
    """Cohen's d = (mean a - mean b) / pooled SD for two independent samples.

    The CI inverts the noncentral t distribution of the pooled two-sample t
    statistic t = d * sqrt(n1 n2 / (n1 + n2)), df = n1 + n2 - 2 (exact under
    normality; Steiger & Fouladi 1997), not the large-sample SE formula.
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    n1, n2 = a.size, b.size
    pooled_sd = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    d = (a.mean() - b.mean()) / pooled_sd
    return _noncentral_t_effect(
        "Cohen's d", d, math.sqrt(n1 * n2 / (n1 + n2)), n1 + n2 - 2, confidence
    )


def cohens_dz(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> EffectSize:
    """Cohen's d_z = mean(a - b) / SD(a - b) for paired samples.

    The CI inverts the noncentral t distribution of the paired t statistic
    t = d_z * sqrt(n), df = n - 1 (exact under normal differences).
    """
    a, b = _pair(a, b)
    diff = a - b
    dz = diff.mean() / diff.std(ddof=1)
    return _noncentral_t_effect("Cohen's d_z", dz, math.sqrt(diff.size), diff.size - 1, confidence)


def cohens_h(
    p1: float, p2: float, n1: int | None = None, n2: int | None = None, confidence: float = 0.95
) -> EffectSize:
    """Cohen's h = 2 asin(sqrt p1) - 2 asin(sqrt p2) (``statsmodels proportion_effectsize``).

    Given both group sizes, the CI is h +/- z * sqrt(1/n1 + 1/n2): the arcsine
    transform makes each term's variance 1/n whatever the proportion.
    """
    for name, p in (("p1", p1), ("p2", p2)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be a proportion in [0, 1], got {p!r}")
    h = float(proportion_effectsize(p1, p2))
    if n1 is None and n2 is None:
        return EffectSize("Cohen's h", h)
    if n1 is None or n2 is None or n1 < 1 or n2 < 1:
        raise ValueError(f"a CI needs both group sizes n1 and n2 >= 1, got n1={n1!r}, n2={n2!r}")
    _check_fraction(confidence, "confidence")
    half_width = stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(1 / n1 + 1 / n2)
    return EffectSize("Cohen's h", h, h - half_width, h + half_width, confidence)


def bootstrap_paired_diff_ci(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Callable[..., float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> EffectSize:
    """Seeded BCa bootstrap CI for ``statistic`` of the paired differences a - b.

    Resampling the differences is resampling the pairs (``scipy.stats.bootstrap``
    with ``paired=True`` does the same). Note that the median of differences
    is not the difference of medians. ``statistic`` must accept ``axis``
    (as numpy reductions do) to be vectorized.
    """
    a, b = _pair(a, b)
    _check_fraction(confidence, "confidence")
    diff = a - b
    res = stats.bootstrap(
        (diff,), statistic, confidence_level=confidence, n_resamples=n_resamples, rng=seed
    )
    name = f"{getattr(statistic, '__name__', 'statistic')} of paired differences (bootstrap BCa)"
    ci = res.confidence_interval
    return EffectSize(name, float(statistic(diff)), float(ci.low), float(ci.high), confidence)


# ------------------------------------------------------------- multiplicity


def correct(p_values: Sequence[float], method: str = "holm", alpha: float = 0.05) -> Correction:
    """Adjust p-values for multiple comparisons ('holm', 'bonferroni' or 'fdr_bh') via statsmodels."""
    if method not in CORRECTIONS:
        raise ValueError(f"method must be one of {CORRECTIONS}, got {method!r}")
    _check_fraction(alpha, "alpha")
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0 or not ((p >= 0) & (p <= 1)).all():
        raise ValueError(
            f"p_values must be a non-empty flat sequence of numbers in [0, 1], got {p_values!r}"
        )
    reject, adjusted, _, _ = multipletests(p, alpha=alpha, method=method)
    return Correction(method, alpha, tuple(adjusted.tolist()), tuple(reject.tolist()))
