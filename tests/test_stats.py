"""Tests for hebbian.stats against published values and hand-computed formulas."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from hebbian import stats

A = [5.1, 4.8, 6.0, 5.5, 6.2, 4.9, 5.8, 6.1]
B = [4.9, 4.9, 5.2, 5.0, 5.9, 4.1, 5.9, 5.2]


def test_fisher_exact_known_table():
    res = stats.fisher_exact([[3, 1], [1, 3]])
    assert round(res.p_value, 4) == 0.4857
    assert res.statistic == pytest.approx(9.0)  # sample odds ratio 3*3 / (1*1)
    assert res.n == 8
    assert res.effect.ci_low < 1 < res.effect.ci_high  # not significant, so the exact CI covers 1


def test_fisher_exact_one_sided_is_upper_hypergeometric_tail():
    # P(X >= 3) with margins 4/4 of 8: (C(4,3) C(4,1) + C(4,4) C(4,0)) / C(8,4) = 17/70
    assert stats.fisher_exact([[3, 1], [1, 3]], alternative="greater").p_value == pytest.approx(
        17 / 70
    )


def test_mcnemar_exact_known_table():
    res = stats.mcnemar([[30, 10], [3, 57]])
    assert round(res.p_value, 4) == 0.0923
    assert res.statistic == 3
    assert res.extra["accuracy_diff"] == pytest.approx(7 / 100)
    assert res.effect.value == pytest.approx(10 / 3)
    assert res.effect.ci_low < 1 < res.effect.ci_high


@pytest.mark.parametrize("correction, shift", [(True, 1), (False, 0)])
def test_mcnemar_chi_square_matches_formula(correction, shift):
    b, c = 10, 3
    expected = (abs(b - c) - shift) ** 2 / (b + c)
    res = stats.mcnemar([[30, b], [c, 57]], exact=False, correction=correction)
    assert res.statistic == pytest.approx(expected)
    assert res.p_value == pytest.approx(sps.chi2.sf(expected, df=1))


@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_without_discordant_pairs_is_no_evidence(exact):
    res = stats.mcnemar([[40, 0], [0, 60]], exact=exact)
    assert (res.statistic, res.p_value, res.effect) == (0.0, 1.0, None)


def test_paired_table_layout():
    a = [True, True, False, False, True]
    b = [True, False, True, False, False]
    assert stats.paired_table(a, b).tolist() == [[1, 2], [1, 1]]


def test_paired_t_matches_formula():
    d = np.subtract(A, B)
    n = d.size
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    res = stats.paired_t(A, B)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(t), n - 1))
    assert res.extra["df"] == n - 1
    assert stats.paired_t(A, B, alternative="greater").p_value == pytest.approx(sps.t.sf(t, n - 1))
    assert res.effect.value == pytest.approx(d.mean() / d.std(ddof=1))


def test_welch_t_matches_formula():
    a, b = np.array(A), np.array(B[:6]) * 1.3
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))  # Welch-Satterthwaite
    res = stats.welch_t(a, b)
    assert res.statistic == pytest.approx(t)
    assert res.extra["df"] == pytest.approx(df)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(t), df))
    assert stats.welch_t(a, b, alternative="less").p_value == pytest.approx(sps.t.cdf(t, df))


def test_wilcoxon_exact_small_sample():
    # all five differences positive: W- = 0; exact P = 1/2^5 per tail
    a, b = [2, 4, 6, 8, 10], [1, 2, 3, 4, 5]
    assert stats.wilcoxon(a, b).p_value == pytest.approx(2 / 32)
    assert stats.wilcoxon(a, b, alternative="greater").p_value == pytest.approx(1 / 32)


def test_wilcoxon_all_zero_differences_is_a_clear_result():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = stats.wilcoxon([1, 2, 3], [1, 2, 3])
    assert (res.statistic, res.p_value, res.extra["n_nonzero"]) == (0.0, 1.0, 0)


def test_cohens_d_pooled_and_noncentral_t_ci():
    a, b = [2, 4, 6, 8], [1, 2, 3, 4, 5]
    # means 5 and 3; squared deviations 20 and 10 over df 3 + 4 = 7
    expected = 2 / math.sqrt(30 / 7)
    es = stats.cohens_d(a, b)
    assert es.value == pytest.approx(expected)
    scale, df = math.sqrt(4 * 5 / 9), 7
    assert sps.nct.cdf(expected * scale, df, es.ci_low * scale) == pytest.approx(0.975)
    assert sps.nct.cdf(expected * scale, df, es.ci_high * scale) == pytest.approx(0.025)


def test_cohens_dz_ci_inverts_noncentral_t():
    es = stats.cohens_dz(A, B, confidence=0.9)
    n = len(A)
    t = es.value * math.sqrt(n)
    assert sps.nct.cdf(t, n - 1, es.ci_low * math.sqrt(n)) == pytest.approx(0.95)
    assert sps.nct.cdf(t, n - 1, es.ci_high * math.sqrt(n)) == pytest.approx(0.05)


def test_cohens_h_value_and_ci():
    assert round(stats.cohens_h(0.6, 0.5).value, 4) == 0.2014
    es = stats.cohens_h(0.6, 0.5, n1=100, n2=100)
    half = 1.959964 * math.sqrt(2 / 100)
    assert (es.ci_low, es.ci_high) == pytest.approx((es.value - half, es.value + half))
    with pytest.raises(ValueError, match="both group sizes"):
        stats.cohens_h(0.6, 0.5, n1=100)


def test_bootstrap_paired_diff_ci_covers_truth_and_is_reproducible():
    rng = np.random.default_rng(7)
    b = rng.normal(0, 1, 200)
    a = b + rng.normal(0.5, 1, 200)  # true mean difference 0.5
    es = stats.bootstrap_paired_diff_ci(a, b, seed=3)
    assert es.ci_low < 0.5 < es.ci_high
    assert es.ci_high - es.ci_low == pytest.approx(2 * 1.96 / math.sqrt(200), rel=0.2)
    assert stats.bootstrap_paired_diff_ci(a, b, seed=3) == es
    assert stats.bootstrap_paired_diff_ci(a, b, seed=4) != es


def _holm(p):
    """Step-down: k-th smallest times (m - k + 1), running maximum, capped at 1."""
    m, order = len(p), np.argsort(p)
    out, running = np.empty(m), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out.tolist()


def _bh(p):
    """Step-up: k-th smallest times m / k, running minimum from the largest down."""
    m, order = len(p), np.argsort(p)
    out, running = np.empty(m), 1.0
    for k in range(m - 1, -1, -1):
        i = order[k]
        running = min(running, p[i] * m / (k + 1))
        out[i] = running
    return out.tolist()


def test_holm_and_bh_on_published_list():
    p = [0.01, 0.04, 0.03, 0.005]
    holm, bh = stats.correct(p, "holm"), stats.correct(p, "fdr_bh")
    assert holm.p_values == pytest.approx(_holm(p))
    assert holm.p_values == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm.reject == (True, False, False, True)
    assert bh.p_values == pytest.approx(_bh(p))
    assert bh.p_values == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert bh.reject == (True, True, True, True)
    assert stats.correct(p, "bonferroni").p_values == pytest.approx([0.04, 0.16, 0.12, 0.02])


def test_results_are_frozen():
    res = stats.paired_t(A, B)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.p_value = 0.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stats.paired_t([1, 2, 3], [1, 2]), "same length"),
        (lambda: stats.paired_table([True, False], [True]), "same length"),
        (lambda: stats.paired_table([2, 0], [1, 0]), "booleans"),
        (lambda: stats.welch_t(A, B, alternative="two_sided"), "alternative must be one of"),
        (lambda: stats.fisher_exact([[3, -1], [1, 3]]), "non-negative"),
        (lambda: stats.mcnemar([[3, 1.5], [1, 3]]), "whole numbers"),
        (lambda: stats.mcnemar([[3, 1, 0], [1, 3, 0]]), "2x2"),
        (lambda: stats.fisher_exact([[0, 0], [0, 0]]), "no observations"),
        (lambda: stats.wilcoxon([1, np.nan], [1, 2]), "NaN"),
        (lambda: stats.correct([0.01, 1.2], "holm"), r"\[0, 1\]"),
        (lambda: stats.correct([0.01], "bh"), "method must be one of"),
        (lambda: stats.cohens_dz(A, B, confidence=95), "confidence"),
    ],
)
def test_bad_input_raises_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
