"""experiments/recall_exploratory.py: the tables keep conditions paired and bin by distance."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parent.parent / "experiments" / "recall_exploratory.py"
spec = importlib.util.spec_from_file_location("recall_exploratory", SCRIPT)
exploratory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exploratory)


def trial(condition, index, correct, logprob, distance):
    return {
        "condition": condition,
        "index": index,
        "item": f"recall-{index:05d}",
        "outcome": {"correct": correct, "logprob": logprob, "distance": distance},
    }


def test_only_items_every_condition_has_are_kept_in_item_order():
    trials = [trial("window_only", i, False, -10.0 - i, 100.0 + i) for i in (2, 0, 1)]
    trials += [trial("memory", i, i == 1, -9.0 - i, 100.0 + i) for i in (1, 0)]
    kinds = {f"recall-{i:05d}": "code" if i else "pet" for i in range(3)}
    data = exploratory.complete_items(exploratory.by_condition(trials, kinds))
    assert (
        list(data["window_only"]["item"])
        == list(data["memory"]["item"])
        == ["recall-00000", "recall-00001"]
    )
    np.testing.assert_array_equal(
        data["memory"]["logprob"] - data["window_only"]["logprob"], [1.0, 1.0]
    )
    assert list(data["memory"]["kind"]) == ["pet", "code"]
    table = exploratory.kind_table(data)
    assert "| `memory` | 1/1, -10.00 | 0/1, -9.00 |" in table


def test_distance_terciles_split_the_items_evenly_nearest_first():
    bins = exploratory.distance_bins(np.array([300.0, 100, 500, 200, 600, 400]))
    np.testing.assert_array_equal(bins, [1, 0, 2, 0, 2, 1])


def test_the_overall_table_pairs_each_condition_with_the_baseline():
    gain = [1.0, 2.0, 3.0, 2.0, 1.0, 3.0]  # mean +2 nats; the items themselves spread far wider
    trials = [trial("window_only", i, False, -10.0 - 30 * i, 100.0) for i in range(6)]
    trials += [trial("slots", i, i == 0, -10.0 - 30 * i + gain[i], 100.0) for i in range(6)]
    kinds = {f"recall-{i:05d}": "code" for i in range(6)}
    table = exploratory.overall_table(
        exploratory.complete_items(exploratory.by_condition(trials, kinds)), "window_only"
    )
    row = next(line for line in table if line.startswith("| `slots` | 1/6 | -83.00 | +2.00 ["))
    low, high = (float(x) for x in row.split("[")[1].split("]")[0].split(","))
    # paired: unpaired, the items' spread (SD 56) would swamp it
    assert 1.0 <= low < 2.0 < high <= 3.0
    assert "| `window_only` | 0/6 | -85.00 |  |" in table
