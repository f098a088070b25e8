"""experiments/perplexity_generation_exploratory.py: gaps pair the two studies segment by segment."""

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parent.parent / "experiments" / "perplexity_generation_exploratory.py"
spec = importlib.util.spec_from_file_location("perplexity_generation_exploratory", SCRIPT)
exploratory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exploratory)


def trials(outcome, values):
    """condition -> [value per segment] as trial records."""
    return [
        {"condition": c, "index": i, "item": f"s{i}", "outcome": {outcome: v}}
        for c, vs in values.items()
        for i, v in enumerate(vs)
    ]


def test_gaps_pair_each_segment_across_the_two_studies_and_skip_missing_ones():
    nll = exploratory.per_segment(
        trials("nll", {"window_only": [3.0, 2.0, 4.0], "slots": [2.9, 2.2, 3.5]}), "nll"
    )
    rep4 = exploratory.per_segment(
        trials("rep4", {"window_only": [0.1, 0.2], "slots": [0.3, 0.1], "memory": [0.5, 0.5]}),
        "rep4",
    )
    table = exploratory.gaps(nll, rep4, "window_only")
    assert set(table) == {"slots"}  # memory is in only one study
    dn, dr = table["slots"]
    np.testing.assert_allclose(dn, [-0.1, 0.2])  # segment s2 has no continuation
    np.testing.assert_allclose(dr, [0.2, -0.1])


def test_rho_is_one_for_a_monotone_relation_and_its_interval_holds_it():
    x = np.linspace(-0.1, 0.1, 30)
    rho, low, high = exploratory.rho_with_interval(x, x**3)
    assert rho == 1.0 and low <= 1.0 <= high
    rho, low, high = exploratory.rho_with_interval(x, -x)
    assert rho == -1.0


def test_a_gzipped_archive_reads_as_the_log_does(tmp_path):
    records = trials("nll", {"window_only": [3.0, 2.0]})
    with gzip.open(tmp_path / "trials.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    assert exploratory.read_log(tmp_path) == records


def test_quotes_set_each_condition_beside_the_reference_on_the_same_segment():
    records = [
        {"condition": c, "index": i, "item": f"s{i}", "outcome": {"reply": f"{c} {i}\n"}}
        for c in ("full_cache", "slots")
        for i in range(5)
    ]
    lines = exploratory.quotes(records, "full_cache", ["slots"])
    quoted = [line for line in lines if line.startswith("- ")]
    assert len(quoted) == exploratory.QUOTED
    assert quoted[0].startswith("- s0, `slots`:") and '"slots 0\\n"' in quoted[0]
    assert '"full_cache 0\\n"' in lines[lines.index(quoted[0]) + 1]
