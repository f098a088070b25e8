"""Sample size and power of a pre-registered study, from each hypothesis's smallest effect of interest.

A hypothesis's ``sesoi`` is given on its test's power scale (see
``hebbian.studies.power``): ``effect`` is a positive magnitude that the
predicted direction signs (d_z, d, Cohen's h, or p10 - p01 with
``discordant``), or the rates themselves (``p1``/``p2`` for Fisher,
``p10``/``p01`` for McNemar, written as condition a's and b's).

Power is planned at the Bonferroni level alpha / m for a correction family
of m hypotheses: exact for Bonferroni and a conservative plan for Holm and
Benjamini-Hochberg, which reject at least as often. The planned n is the
largest n any primary hypothesis needs, or the fixed ``sample_size.n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hebbian.studies import power

if TYPE_CHECKING:
    from hebbian.studies.prereg import Hypothesis

SESOI_KEYS = {
    "paired_t": ("effect",),
    "wilcoxon": ("effect",),
    "welch_t": ("effect",),
    "fisher": ("effect", "p1", "p2"),
    "mcnemar": ("effect", "discordant", "p10", "p01"),
}


@dataclass(frozen=True)
class HypothesisPower:
    """A hypothesis's planning alpha, the n its SESOI needs, and its power and MDE at a given n."""

    hypothesis: str
    alpha: float
    n_needed: int | None
    n: int
    power: float | None
    mde: float | None


def planning_alpha(h: Hypothesis, family_size: int) -> float:
    """The per-test alpha power is planned at: alpha / family size."""
    return h.alpha / family_size


def _effect_args(h: Hypothesis) -> tuple[float | None, dict[str, float]]:
    """The signed effect and the extra keyword arguments ``power`` takes for ``h``'s SESOI."""
    kw = dict(h.sesoi)
    effect = kw.pop("effect", None)
    if effect is not None and h.direction == "less":
        effect = -effect
    return effect, kw


def n_needed(h: Hypothesis, family_size: int, target_power: float) -> int:
    """Items (pairs, or items per condition) ``h`` needs to reach ``target_power`` at its SESOI."""
    effect, kw = _effect_args(h)
    return power.n_for(
        h.test, effect, planning_alpha(h, family_size), target_power, h.alternative, **kw
    )


def _power_at(h: Hypothesis, family_size: int, n: int) -> float | None:
    if not h.sesoi or n < 2:
        return None
    effect, kw = _effect_args(h)
    return power.achieved_power(
        h.test, effect, n, planning_alpha(h, family_size), h.alternative, **kw
    )


def _mde_at(h: Hypothesis, family_size: int, n: int, target_power: float) -> float | None:
    """Minimum detectable effect at n on the test's scale; None where it cannot be formed."""
    kw = {}
    if h.test == "mcnemar":
        discordant = h.sesoi.get("discordant", h.sesoi.get("p10", 0) + h.sesoi.get("p01", 0))
        if not discordant:
            return None
        kw["discordant"] = discordant
    if n < 2:
        return None
    try:
        return power.min_detectable_effect(
            h.test, n, planning_alpha(h, family_size), target_power, h.alternative, **kw
        )
    except ValueError:  # no effect within the discordant proportion reaches the power
        return None


def power_at(h: Hypothesis, family_size: int, n: int, target_power: float) -> HypothesisPower:
    """Everything the report says about ``h``'s power when ``n`` items are analysed."""
    needed = n_needed(h, family_size, target_power) if h.sesoi else None
    return HypothesisPower(
        h.id,
        planning_alpha(h, family_size),
        needed,
        n,
        _power_at(h, family_size, n),
        _mde_at(h, family_size, n, target_power),
    )
