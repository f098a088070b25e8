"""experiments/perplexity_exploratory.py: gaps are paired per segment, per half of the scored tokens."""

import importlib.util
from pathlib import Path

import numpy as np

from hebbian.studies.analysis import Outcomes

SCRIPT = Path(__file__).parent.parent / "experiments" / "perplexity_exploratory.py"
spec = importlib.util.spec_from_file_location("perplexity_exploratory", SCRIPT)
exploratory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exploratory)


def outcomes():
    rng = np.random.default_rng(0)
    segment = rng.normal(3.0, 1.0, 40)  # a segment's own difficulty, shared by every condition
    window = {"nll_early": segment, "nll_late": segment + 0.1}
    slots = {"nll_early": segment - 0.02, "nll_late": segment + 0.1 - 0.2}  # helps more later
    return Outcomes(
        tuple(f"s{i}" for i in range(40)), {"window_only": window, "slots": slots}, {}, 0
    )


def test_gaps_are_paired_differences_per_half():
    gaps = exploratory.gaps(outcomes(), "window_only")
    assert set(gaps) == {"slots"}
    assert np.isclose(gaps["slots"]["nll_early"].value, -0.02) and np.isclose(
        gaps["slots"]["nll_late"].value, -0.2
    )
    # paired: the segments' spread (SD 1) does not reach the interval of a constant difference
    assert gaps["slots"]["nll_late"].ci_high - gaps["slots"]["nll_late"].ci_low < 1e-6


def test_table_has_the_reference_row_and_the_change_between_halves(tmp_path):
    table = exploratory.gap_table(outcomes(), "window_only")
    assert table[2].startswith("| `window_only` |")
    assert table[3].startswith("| `slots` |") and table[3].endswith("| -0.180 |")
    assert (
        exploratory.plot_gaps(outcomes(), "window_only", tmp_path / "g.png").stat().st_size > 1000
    )
