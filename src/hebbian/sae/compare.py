"""Paired comparisons with effect sizes and a family-wise correction, via hebbian.stats.

Every comparison in this package is paired by design (conditions share a seed;
token groups and SAEs share a held-out context), so only the paired test is here.

A :class:`Comparison` is one row of a report table: what was compared, the
means, the test's p-value, the effect size with its CI, a robustness p-value
(Wilcoxon for paired data), and after :func:`correct_family` the Holm-adjusted
p-value and decision. All tests are two-sided.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hebbian import stats
from hebbian.io.markdown import table


@dataclass(frozen=True)
class Comparison:
    """One a-vs-b comparison; ``p_adjusted``/``reject`` are filled in by :func:`correct_family`."""

    name: str
    test: str
    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    p_value: float
    effect: stats.EffectSize | None
    p_robust: float | None = None
    p_adjusted: float | None = None
    reject: bool | None = None
    # the sign of a - b that the claim under test predicts (0: no difference)
    expected: int | None = None

    def verdict(self) -> str:
        """What the corrected result says about the expected direction."""
        if self.reject is None:
            raise ValueError("correct the family first")
        if self.expected == 0:
            return (
                "contradicts the claim (a difference)"
                if self.reject
                else "consistent with the claim (no detectable difference)"
            )
        if not self.reject:
            return "no detectable difference"
        if self.expected is None:
            return "a difference"
        return (
            "supports the claim"
            if np.sign(self.mean_diff) == self.expected
            else "contradicts the claim (opposite direction)"
        )


def paired(name: str, a, b, expected: int | None = None) -> Comparison:
    """Paired t-test of a - b, Cohen's d_z, and the Wilcoxon signed-rank p as a check.

    When every difference is the same the t statistic is undefined; the
    Wilcoxon p (which is defined) is then used as the test's p-value.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    wil = stats.wilcoxon(a, b)
    if np.ptp(diff) == 0:
        return Comparison(
            name,
            "wilcoxon (constant differences)",
            a.size,
            a.mean(),
            b.mean(),
            float(diff.mean()),
            wil.p_value,
            None,
            wil.p_value,
            expected=expected,
        )
    res = stats.paired_t(a, b)
    return Comparison(
        name,
        "paired t",
        a.size,
        a.mean(),
        b.mean(),
        float(diff.mean()),
        res.p_value,
        res.effect,
        wil.p_value,
        expected=expected,
    )


def correct_family(
    rows: list[Comparison], method: str = "holm", alpha: float = 0.05
) -> list[Comparison]:
    """The rows with Holm- (or ``method``-) adjusted p-values and reject decisions filled in."""
    corrected = stats.correct([r.p_value for r in rows], method=method, alpha=alpha)
    return [
        replace(r, p_adjusted=p, reject=rej)
        for r, p, rej in zip(rows, corrected.p_values, corrected.reject)
    ]


def markdown_table(rows: list[Comparison]) -> str:
    """A markdown table of comparisons (means, difference, effect with CI, p, robust p, adjusted p)."""
    header = [
        "comparison", "test", "n", "mean a", "mean b", "a - b", "effect [95% CI]",
        "p", "robust p", "adj. p", "reject",
    ]  # fmt: skip
    return table(header, [_row(r) for r in rows])


def _row(r: Comparison) -> list[str]:
    e = r.effect
    effect = "n/a" if e is None else f"{e.name} {e.value:.2f} [{e.ci_low:.2f}, {e.ci_high:.2f}]"
    return [
        r.name,
        r.test,
        str(r.n),
        f"{r.mean_a:.4g}",
        f"{r.mean_b:.4g}",
        f"{r.mean_diff:+.4g}",
        effect,
        _p(r.p_value),
        _p(r.p_robust),
        _p(r.p_adjusted),
        "" if r.reject is None else ("yes" if r.reject else "no"),
    ]


def _p(p: float | None) -> str:
    return "" if p is None else f"{p:.2g}"
