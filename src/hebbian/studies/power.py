"""Sample size, achieved power and minimum detectable effect for the tests in ``hebbian.stats``.

Planning a study starts here: how many items (pairs, or items per group) are
needed to detect an effect of a given size. The calculations are statsmodels'
power classes; this module only maps our test names and effect-size
conventions onto them:

- ``'welch_t'``, ``'t_ind'``: n per group, effect = Cohen's d
  (``TTestIndPower``, the pooled-variance t; Welch's test matches it closely
  with equal group sizes and similar variances).
- ``'paired_t'``: n pairs, effect = Cohen's d_z (``TTestPower``).
- ``'wilcoxon'``: n pairs, effect = d_z; the paired-t n divided by the
  signed-rank test's asymptotic relative efficiency, 3/pi (about 0.955) for
  normal differences (G*Power's "A.R.E." method). Other shapes can give
  more efficiency, or less, down to 0.864.
- ``'fisher'``, ``'proportions'``: n per group, effect = Cohen's h, or pass
  ``p1=`` and ``p2=`` (``NormalIndPower``, the arcsine normal approximation;
  Fisher's exact test is conservative, so treat its n as a lower bound).
- ``'mcnemar'``: n pairs; pass the discordant proportions ``p10=``
  (a right, b wrong) and ``p01=`` (a wrong, b right), or ``effect`` =
  p10 - p01 with ``discordant=`` p10 + p01. Connor (1987); see McNemarPower.

``alternative`` is 'two-sided', 'greater' or 'less' as in ``hebbian.stats``;
a one-sided effect must point the way of the alternative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize
from statsmodels.stats.power import (
    NormalIndPower,
    Power,
    TTestIndPower,
    TTestPower,
    normal_power_het,
)
from statsmodels.stats.proportion import proportion_effectsize

from hebbian.stats import check_alternative

WILCOXON_ARE = 3 / math.pi

_STATSMODELS_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


class McNemarPower(Power):
    """Power of McNemar's test for paired proportions (Connor 1987).

    Connor, R. J. (1987). Sample size for testing differences in proportions
    for the paired-sample design. Biometrics 43(1), 207-211.

    ``effect_size`` is delta = p10 - p01 and ``discordant`` is psi = p10 + p01,
    the two discordant-cell probabilities. The difference of discordant
    proportions has mean delta, SD sqrt(psi / n) under H0 and
    sqrt((psi - delta^2) / n) under H1; statsmodels' ``normal_power_het``
    evaluates that normal approximation, and solving it for n gives Connor's
    n = (z_{1-alpha/2} sqrt(psi) + z_{1-beta} sqrt(psi - delta^2))^2 / delta^2
    (up to the negligible far tail of a two-sided test). It describes the
    uncorrected chi-square test, for which it is slightly conservative; the
    exact and continuity-corrected versions need more pairs. By simulation
    at p10 = 0.15, p01 = 0.05, Connor's n = 155 gives power 0.82 uncorrected
    but 0.76 exact, which needs about 170 pairs for 0.80.
    """

    def power(self, effect_size, nobs, alpha, discordant, alternative="two-sided"):
        return normal_power_het(
            effect_size,
            nobs,
            alpha,
            std_null=math.sqrt(discordant),
            std_alternative=math.sqrt(discordant - effect_size**2),
            alternative=alternative,
        )


@dataclass(frozen=True)
class _Design:
    label: str
    effect_name: str
    unit: str
    engine: type[Power]
    nobs_key: str = "nobs"
    efficiency: float = 1.0
    note: str = ""


_POOLED_T_NOTE = (
    "It uses the pooled-variance t, which Welch's test matches closely with equal groups."
)
_ARCSINE_NOTE = "It uses the arcsine normal approximation."

DESIGNS = {
    "welch_t": _Design(
        "Welch two-sample t-test",
        "Cohen's d",
        "per group",
        TTestIndPower,
        "nobs1",
        note=_POOLED_T_NOTE,
    ),
    "t_ind": _Design("two-sample t-test", "Cohen's d", "per group", TTestIndPower, "nobs1"),
    "paired_t": _Design("paired t-test", "Cohen's d_z", "pairs", TTestPower),
    "wilcoxon": _Design(
        "Wilcoxon signed-rank test",
        "Cohen's d_z",
        "pairs",
        TTestPower,
        efficiency=WILCOXON_ARE,
        note="It is the paired t-test n divided by the asymptotic relative efficiency 3/pi "
        "(normal differences).",
    ),
    "fisher": _Design(
        "Fisher's exact test",
        "Cohen's h",
        "per group",
        NormalIndPower,
        "nobs1",
        note=f"{_ARCSINE_NOTE} Fisher's exact test is conservative: treat the n as a lower bound.",
    ),
    "proportions": _Design(
        "two-proportion z-test",
        "Cohen's h",
        "per group",
        NormalIndPower,
        "nobs1",
        note=_ARCSINE_NOTE,
    ),
    "mcnemar": _Design(
        "McNemar test",
        "p10 - p01",
        "pairs",
        McNemarPower,
        note="It uses Connor's (1987) approximation for the uncorrected test; the exact test "
        "needs roughly 10% more pairs.",
    ),
}
TESTS = tuple(DESIGNS)


def _design(test: str) -> _Design:
    if test not in DESIGNS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    return DESIGNS[test]


def _check_levels(alpha: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if power is not None and not alpha < power < 1:
        raise ValueError(f"power must lie strictly between alpha ({alpha}) and 1, got {power!r}")


def _reject_unknown(test: str, kw: dict, allowed: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise ValueError(f"unexpected parameters for {test!r}: {unknown}; allowed: {list(allowed)}")


def _discordant(p10: float, p01: float) -> tuple[float, float]:
    if p10 < 0 or p01 < 0 or p10 + p01 > 1:
        raise ValueError(
            f"p10 and p01 must be non-negative with p10 + p01 <= 1, got {p10!r} and {p01!r}"
        )
    return p10 - p01, p10 + p01


def _check_discordant(psi: float | None) -> float:
    if psi is None or not 0 < psi <= 1:
        raise ValueError(f"mcnemar needs discordant = p10 + p01 in (0, 1], got {psi!r}")
    return psi


def _inputs(test: str, effect: float | None, kw: dict) -> tuple[_Design, float, dict]:
    """Resolve ``effect`` (or its ingredients in ``kw``) into statsmodels' effect_size and extra arguments."""
    design = _design(test)
    extra = {}
    if test in ("fisher", "proportions") and {"p1", "p2"} & set(kw):
        _reject_unknown(test, kw, ("p1", "p2"))
        if effect is not None:
            raise ValueError("give either effect (Cohen's h) or p1 and p2, not both")
        effect = float(proportion_effectsize(kw["p1"], kw["p2"]))
    elif test == "mcnemar":
        if {"p10", "p01"} & set(kw):
            _reject_unknown(test, kw, ("p10", "p01"))
            if effect is not None:
                raise ValueError(
                    "give either p10 and p01, or effect (p10 - p01) with discordant (p10 + p01)"
                )
            effect, psi = _discordant(kw["p10"], kw["p01"])
        else:
            _reject_unknown(test, kw, ("discordant",))
            psi = _check_discordant(kw.get("discordant"))
        if effect is not None and abs(effect) > psi:
            raise ValueError(
                f"|p10 - p01| cannot exceed p10 + p01, got effect {effect} and discordant {psi}"
            )
        extra = {"discordant": psi}
    else:
        _reject_unknown(test, kw)
    if effect is None:
        raise ValueError(f"{test!r} needs an effect size ({design.effect_name})")
    if effect == 0:
        raise ValueError("an effect of 0 cannot be detected; give a non-zero effect")
    return design, effect, extra


def n_for(
    test: str,
    effect: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    **kw: float,
) -> int:
    """Smallest n (per group or pairs, see the module docstring) giving ``power`` at ``alpha``."""
    design, effect, extra = _inputs(test, effect, kw)
    _check_levels(alpha, power)
    n = design.engine().solve_power(
        effect_size=effect,
        **{design.nobs_key: None},
        alpha=alpha,
        power=power,
        alternative=_STATSMODELS_ALTERNATIVE[check_alternative(alternative)],
        **extra,
    )
    if not math.isfinite(n):
        raise ValueError(f"statsmodels found no sample size for {test!r} with effect {effect}")
    return math.ceil(n / design.efficiency)


def achieved_power(
    test: str,
    effect: float | None,
    n: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    **kw: float,
) -> float:
    """Power of ``test`` at ``n`` (per group or pairs) for ``effect``."""
    design, effect, extra = _inputs(test, effect, kw)
    _check_levels(alpha)
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n!r}")
    return _power(
        design, effect, n, alpha, _STATSMODELS_ALTERNATIVE[check_alternative(alternative)], extra
    )


def _power(
    design: _Design, effect: float, n: float, alpha: float, alternative: str, extra: dict
) -> float:
    """statsmodels' power, with `alternative` in its spelling."""
    nobs = {design.nobs_key: n * design.efficiency}
    got = float(
        design.engine().power(
            effect_size=effect, **nobs, alpha=alpha, alternative=alternative, **extra
        )
    )
    if math.isnan(got) and alternative == "two-sided":
        # scipy's noncentral t cdf is NaN at scattered far-tail points (at 1e-17 and below), so
        # the two-sided power's tail opposite the effect can fail; it is then negligible, and
        # the one-sided power at alpha / 2 is the power to float precision.
        got = float(
            design.engine().power(
                effect_size=abs(effect), **nobs, alpha=alpha / 2, alternative="larger", **extra
            )
        )
    return got


def min_detectable_effect(
    test: str,
    n: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    **kw: float,
) -> float:
    """Smallest effect ``test`` detects with ``power`` at ``n``; negative for alternative='less'.

    For 'fisher'/'proportions' the effect is Cohen's h; for 'mcnemar' it is
    p10 - p01 at the given ``discordant`` = p10 + p01.
    """
    design = _design(test)
    _check_levels(alpha, power)
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n!r}")
    sm_alternative = _STATSMODELS_ALTERNATIVE[check_alternative(alternative)]
    if test == "mcnemar":
        _reject_unknown(test, kw, ("discordant",))
        return _mcnemar_mde(
            n, alpha, power, sm_alternative, _check_discordant(kw.get("discordant"))
        )
    _reject_unknown(test, kw)
    # statsmodels' solve_power for the effect size fails at some n (an array back, or a bracket
    # with no sign change); power grows with the effect's size, so a bracketed root is safe.
    sign = -1 if sm_alternative == "smaller" else 1

    def shortfall(size: float) -> float:
        return _power(design, sign * size, n, alpha, sm_alternative, {}) - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2
    return sign * optimize.brentq(shortfall, 0.0, upper)


def _mcnemar_mde(n: float, alpha: float, power: float, alternative: str, psi: float) -> float:
    """Root of McNemar power in |p10 - p01| on [0, psi] (statsmodels' solver strays past sqrt(psi))."""
    sign = -1 if alternative == "smaller" else 1

    def shortfall(size: float) -> float:
        return McNemarPower().power(sign * size, n, alpha, psi, alternative) - power

    if shortfall(psi) < 0:
        raise ValueError(
            f"no difference p10 - p01 within discordant = {psi} reaches power {power} with {n} pairs"
        )
    return sign * optimize.brentq(shortfall, 0.0, psi)


def describe(
    test: str,
    effect: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    **kw: float,
) -> str:
    """One plain-English paragraph: the n ``test`` needs for ``effect``, and what it assumes."""
    design, value, extra = _inputs(test, effect, kw)
    n = n_for(test, effect, alpha, power, alternative, **kw)
    got = achieved_power(test, effect, n, alpha, alternative, **kw)
    size = f"{n} pairs" if design.unit == "pairs" else f"{n} per group ({2 * n} in all)"
    discordant = f" at p10 + p01 = {extra['discordant']:g}" if extra else ""
    sided = "two-sided" if alternative == "two-sided" else f"one-sided ({alternative})"
    text = (
        f"To detect {design.effect_name} = {value:.4g}{discordant} with {power:.0%} power in a {sided} "
        f"{design.label} at alpha = {alpha:g}, you need {size}; that n gives power {got:.3f}."
    )
    return f"{text} {design.note}" if design.note else text
