"""Tests for hebbian.studies.power against G*Power reference values and Connor's formula."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from hebbian import stats
from hebbian.studies import power

# (test, effect, kwargs, G*Power n) at alpha .05 two-sided, power .80
REFERENCE = [
    ("welch_t", 0.2, {}, 394),
    ("welch_t", 0.3, {}, 176),
    ("t_ind", 0.5, {}, 64),
    ("t_ind", 0.8, {}, 26),
    ("paired_t", 0.5, {}, 34),
    ("wilcoxon", 0.5, {}, 35),  # A.R.E. method, normal parent: 33.37 / (3/pi) = 34.9
    ("proportions", 0.2014, {}, 388),
    ("fisher", None, {"p1": 0.6, "p2": 0.5}, 388),
]


@pytest.mark.parametrize("test, effect, kw, expected", REFERENCE)
def test_n_matches_gpower(test, effect, kw, expected):
    assert power.n_for(test, effect, **kw) == expected


@pytest.mark.parametrize("test, effect, kw, n", REFERENCE)
def test_n_is_the_smallest_n_reaching_power(test, effect, kw, n):
    assert 0.8 <= power.achieved_power(test, effect, n, **kw) < 0.82
    assert power.achieved_power(test, effect, n - 1, **kw) < 0.8


@pytest.mark.parametrize("test", ["welch_t", "paired_t", "wilcoxon", "proportions"])
def test_power_increases_with_n(test):
    powers = [power.achieved_power(test, 0.3, n) for n in (10, 20, 40, 80, 160)]
    assert powers == sorted(powers) and powers[0] < powers[-1]


@pytest.mark.parametrize("test, effect, kw, n", REFERENCE[:6])
def test_min_detectable_effect_inverts_n_for(test, effect, kw, n):
    mde = power.min_detectable_effect(test, n)
    assert power.achieved_power(test, mde, n) == pytest.approx(0.8, abs=1e-4)
    assert mde <= effect < power.min_detectable_effect(test, n - 1)


def test_one_sided_paired_t_matches_gpower():
    assert power.n_for("paired_t", 0.5, alternative="greater") == 27
    assert power.n_for("paired_t", -0.5, alternative="less") == 27
    assert power.min_detectable_effect("paired_t", 27, alternative="less") < 0


@pytest.mark.parametrize("n", [76, 80, 90, 100, 134])
@pytest.mark.parametrize("alternative", ["less", "greater", "two-sided"])
def test_min_detectable_effect_at_any_n(n, alternative):
    # statsmodels' own solver fails at some of these n (alpha 0.01, one-sided)
    mde = power.min_detectable_effect("paired_t", n, alpha=0.01, alternative=alternative)
    assert (mde < 0) == (alternative == "less")
    assert power.achieved_power(
        "paired_t", mde, n, alpha=0.01, alternative=alternative
    ) == pytest.approx(0.8, abs=1e-6)


def test_two_sided_power_survives_scipys_far_tail_nan():
    # statsmodels returns NaN here: scipy's noncentral t cdf fails in the tail opposite the effect
    got = power.achieved_power("paired_t", 0.79, 100, alpha=0.01)
    assert 1 - 1e-6 < got <= 1


P10, P01 = 0.15, 0.05


def _connor_n(p10, p01, alpha=0.05, target=0.8):
    delta, psi = p10 - p01, p10 + p01
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(target)
    return (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - delta**2)) ** 2 / delta**2


def test_mcnemar_n_matches_connor_formula():
    expected = math.ceil(_connor_n(P10, P01))  # 154.6 -> 155
    assert power.n_for("mcnemar", p10=P10, p01=P01) == expected == 155
    assert power.n_for("mcnemar", P10 - P01, discordant=P10 + P01) == expected


def test_mcnemar_mde_round_trip():
    mde = power.min_detectable_effect("mcnemar", 155, discordant=0.2)
    assert power.achieved_power("mcnemar", mde, 155, discordant=0.2) == pytest.approx(0.8, abs=1e-6)
    assert mde <= P10 - P01
    assert power.min_detectable_effect("mcnemar", 155, alternative="less", discordant=0.2) < 0


def _rejection_rate(pairs, counts, **options):
    rejected = [
        stats.mcnemar([[0, b], [c, 155 - b - c]], **options).p_value < 0.05 for b, c in pairs
    ]
    return np.dot(rejected, counts) / counts.sum()


def test_mcnemar_power_matches_simulation():
    rng = np.random.default_rng(2024)
    discordant = rng.multinomial(155, [P10, P01, 1 - P10 - P01], size=2000)[:, :2]
    # 2,000 seeded studies; each distinct (a only, b only) outcome is tested once and weighted
    pairs, counts = np.unique(discordant, axis=0, return_counts=True)
    asymptotic = _rejection_rate(pairs, counts, exact=False, correction=False)
    # Connor's n reaches the target for the uncorrected test (0.825 here, simulation SE ~0.009)
    assert 0.8 <= asymptotic < 0.85
    # the exact test is conservative, as documented
    assert _rejection_rate(pairs, counts) < asymptotic


def test_describe_names_the_n():
    text = power.describe("paired_t", effect=0.5)
    assert "34 pairs" in text and "paired t-test" in text and "0.808" in text
    assert "388 per group (776 in all)" in power.describe("proportions", p1=0.6, p2=0.5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: power.n_for("anova", 0.5), "test must be one of"),
        (lambda: power.n_for("paired_t", 0.5, alternative="larger"), "alternative must be one of"),
        (lambda: power.n_for("paired_t"), "needs an effect size"),
        (lambda: power.n_for("paired_t", 0.0), "effect of 0"),
        (lambda: power.n_for("paired_t", 0.5, ratio=2), "unexpected parameters"),
        (lambda: power.n_for("fisher", 0.2, p1=0.6, p2=0.5), "either effect"),
        (lambda: power.n_for("mcnemar", 0.1), "discordant"),
        (lambda: power.n_for("mcnemar", p10=0.7, p01=0.5), "p10 \\+ p01 <= 1"),
        (lambda: power.n_for("mcnemar", 0.3, discordant=0.2), "cannot exceed"),
        (lambda: power.n_for("paired_t", -0.5, alternative="greater"), "No solution"),
        (lambda: power.n_for("paired_t", 0.5, power=0.01), "power must lie"),
        (lambda: power.achieved_power("paired_t", 0.5, 1), "at least 2"),
        (lambda: power.min_detectable_effect("mcnemar", 10, discordant=0.01), "no difference"),
    ],
)
def test_bad_input_raises_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
