"""Experiment plumbing: settings validation, variant budgets, recall metrics, paired comparisons."""

import numpy as np
import pytest

from hebbian.memnet import experiments, tasks
from hebbian.memnet.baselines import count_parameters
from hebbian.memnet.report import compare


def test_defaults_are_valid_and_overrides_apply():
    for task in experiments.TASKS:
        assert experiments.settings_for(task).task == task
    assert experiments.settings_for("dependency", steps=7, batch_size=None).steps == 7


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(variants=("memnet", "gpt")), "variants"),
        (dict(steps=601), "divisible"),
        (dict(warmup=-1), "warmup"),
    ],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        experiments.settings_for("continual", **overrides)


def test_ablations_differ_only_in_what_they_switch_off():
    config = experiments.settings_for("dependency").memnet_config()
    counts = {v: count_parameters(experiments.build(v, config)) for v in experiments.VARIANTS}
    assert counts["memnet_no_graph"] == counts["memnet"]  # the graph has no weights
    assert (
        counts["memnet_no_dream"] < counts["memnet"]
        and counts["memnet_topk_only"] < counts["memnet"]
    )


def test_recall_metrics_separate_binding_from_remembering_values():
    task = tasks.RecallTask(tasks.Vocabulary(), story_length=12, n_pairs=2)
    batch = tasks.sample(task, 30, np.random.default_rng(0))
    asked = batch.targets >= 0
    swapped = batch.targets.copy()
    for b in range(30):  # answer every query with the other pair's value
        q = np.nonzero(asked[b])[0]
        swapped[b, q] = batch.targets[b, q[::-1]]
    same_values = swapped[asked] == batch.targets[asked]  # the two pairs may share a value
    metrics = experiments._recall_metrics(np.where(asked, swapped, 0), batch, reach=5)
    assert metrics["in_sequence"] == 1.0
    assert metrics["accuracy"] == pytest.approx(same_values.mean())
    assert sum(metrics["by_distance"]["n"]) == asked.sum()


def test_paired_comparison_of_equal_and_shifted_samples():
    # binary fractions: the shifted differences are exactly equal
    a = [0.5, 0.75, 0.25, 0.625, 0.375]
    assert compare(a, a)["p"] == 1.0
    shifted = compare([x + 0.125 for x in a], a)
    assert shifted["mean_diff"] == 0.125 and shifted["p"] == 2 * 0.5**5  # exact sign test
    noisy = compare([x + d for x, d in zip(a, [0.3, 0.35, 0.25, 0.3, 0.32])], a)
    assert noisy["p"] < 0.001 and noisy["ci"][0] > 0 and noisy["dz"] > 0
