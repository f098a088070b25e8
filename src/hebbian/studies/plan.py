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

Planning reads a hypothesis and a study through the fields it needs (``Hypothesis`` and
``Study`` below, which ``prereg``'s records have), so that the pre-registration's parser can
plan while it validates and this module imports nothing of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hebbian.studies import power

SESOI_KEYS = {
    "paired_t": ("effect",),
    "wilcoxon": ("effect",),
    "welch_t": ("effect",),
    "fisher": ("effect", "p1", "p2"),
    "mcnemar": ("effect", "discordant", "p10", "p01"),
}


class Hypothesis(Protocol):
    """What planning reads of a hypothesis (``prereg.Hypothesis`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def test(self) -> str: ...
    @property
    def alpha(self) -> float: ...
    @property
    def direction(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def sesoi(self) -> Mapping[str, float]: ...
    @property
    def primary(self) -> bool: ...
    @property
    def alternative(self) -> str: ...


class Study(Protocol):
    """What planning reads of a study (``prereg.Prereg`` has it)."""

    @property
    def hypotheses(self) -> Sequence[Hypothesis]: ...
    @property
    def target_power(self) -> float: ...


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


def family_count(hypotheses: Sequence[Hypothesis], h: Hypothesis) -> int:
    """How many of ``hypotheses`` share ``h``'s correction family."""
    return sum(other.family == h.family for other in hypotheses)


def power_of(study: Study, h: Hypothesis, n: int) -> HypothesisPower:
    """``power_at`` for a hypothesis of ``study``: planned within its family, at the study's target."""
    return power_at(h, family_count(study.hypotheses, h), n, study.target_power)


def planned_n(
    hypotheses: Sequence[Hypothesis], target_power: float, fixed_n: int | None, errors: list[str]
) -> int:
    """The fixed n, or the largest n a primary hypothesis needs; a SESOI power rejects becomes an error
    line (``hypotheses[i].sesoi: ...``) appended to ``errors``."""
    sizes = Counter(h.family for h in hypotheses)
    needed = []
    for i, h in enumerate(hypotheses):
        if not h.sesoi:
            continue
        try:
            n = n_needed(h, sizes[h.family], target_power)
        except ValueError as e:
            errors.append(f"hypotheses[{i}].sesoi: {e}")
            continue
        if h.primary:
            needed.append(n)
    return fixed_n if fixed_n is not None else max(needed, default=0)


def shortfalls(study: Study, n: int) -> list[str]:
    """A warning line for each primary hypothesis whose power at ``n`` items falls short of the target."""
    out = []
    for h in study.hypotheses:
        got = power_of(study, h, n)
        if h.primary and got.power is not None and got.power < study.target_power:
            out.append(
                f"sample_size.n: {n} items give {h.id} power {got.power:.2f} at its SESOI, "
                f"below the target {study.target_power:.2f}"
            )
    return out
