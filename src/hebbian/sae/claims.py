"""The seed's claims about its synthetic episodes, as tests over seeds.

Each claim becomes paired comparisons across seeds (pairs share data and
initial weights). The family is corrected with Holm's method; one family per
L1 form (decoder-norm-scaled, ours; plain, the seed's), the KL claims joining
the first.

- weighting: importance weights widen the emotional-vs-routine gap in active
  latents (weighted vs uniform, at each beta);
- optimal beta: at the reference beta (5e-4) the weighted gap is larger, and
  the emotional/routine raw cosine lower, than at each other beta;
- relaxed pressure: at the smallest beta the chaotic and routine episodes use
  more latents than at the reference beta;
- fidelity: weighted reconstruction lowers the emotional episode's MSE;
- KL: weighting the KL penalty leaves the emotional episode's active count
  unchanged (the seed: "minimal impact").

Each row carries the sign of the difference the claim predicts, so a
significant difference the other way reads as a contradiction.
"""

from __future__ import annotations

import numpy as np

from .compare import Comparison, correct_family, paired
from .episodes import CHAOTIC, EMOTIONAL, ROUTINE
from .synthetic import Run, SyntheticConfig, table

COSINE = f"cosine_{EMOTIONAL}_{ROUTINE}"


def _name(tag: str, beta: float, weights: str) -> str:
    return f"p5/{tag}/{beta:g}/{weights}"


def l1_family(runs: list[Run], config: SyntheticConfig, tag: str) -> list[Comparison]:
    """The weighting, optimal-beta and fidelity comparisons for one L1 form (uncorrected)."""
    ref = config.reference_beta
    rows = [
        paired(
            f"{tag} beta={b:g}: active gap, weighted vs uniform",
            table(runs, _name(tag, b, "weighted"), "active_gap"),
            table(runs, _name(tag, b, "uniform"), "active_gap"),
            expected=1,
        )
        for b in config.betas
    ]
    for other in (b for b in config.betas if b != ref):
        for metric, label, sign in (
            ("active_gap", "active gap", 1),
            (COSINE, "emo/routine cosine", -1),
        ):
            rows.append(
                paired(
                    f"{tag} weighted: {label}, beta {ref:g} vs {other:g}",
                    table(runs, _name(tag, ref, "weighted"), metric),
                    table(runs, _name(tag, other, "weighted"), metric),
                    expected=sign,
                )
            )
    low = min(config.betas)
    for label in (CHAOTIC, ROUTINE):  # the seed: relaxed pressure gives every type richer codes
        rows.append(
            paired(
                f"{tag} weighted: {label} active latents, beta {low:g} vs {ref:g}",
                table(runs, _name(tag, low, "weighted"), f"active_{label}"),
                table(runs, _name(tag, ref, "weighted"), f"active_{label}"),
                expected=1,
            )
        )
    rows.append(
        paired(
            f"{tag} beta={ref:g}: emotional MSE, weighted vs uniform",
            table(runs, _name(tag, ref, "weighted"), f"mse_{EMOTIONAL}"),
            table(runs, _name(tag, ref, "uniform"), f"mse_{EMOTIONAL}"),
            expected=-1,
        )
    )
    return rows


def kl_family(runs: list[Run]) -> list[Comparison]:
    """Does weighting the KL penalty (beta 3) change the emotional episode's active latents?"""
    return [
        paired(
            f"{form} beta=3: emotional active latents, weighted vs uniform",
            table(runs, f"p4/{form}/3/weighted", f"active_{EMOTIONAL}"),
            table(runs, f"p4/{form}/3/uniform", f"active_{EMOTIONAL}"),
            expected=0,
        )
        for form in ("kl_example", "kl")
    ]


def families(runs: list[Run], config: SyntheticConfig) -> dict[str, list[Comparison]]:
    """Holm-corrected families: 'primary' (scaled L1 + KL) and 'seed L1' (plain L1)."""
    return {
        "primary": correct_family(l1_family(runs, config, "l1") + kl_family(runs)),
        "seed L1": correct_family(l1_family(runs, config, "l1_plain")),
    }


def best_beta_counts(runs: list[Run], config: SyntheticConfig, tag: str) -> dict[float, int]:
    """How many seeds put the largest weighted active gap at each beta (ties go to every tied beta)."""
    gaps = np.stack([table(runs, _name(tag, b, "weighted"), "active_gap") for b in config.betas])
    best = gaps == gaps.max(axis=0)
    return {b: int(n) for b, n in zip(config.betas, best.sum(axis=1))}
