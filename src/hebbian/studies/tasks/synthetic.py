"""A synthetic task with a known effect, for testing the study machinery and power planning.

No model runs. Each condition's config sets ``p_correct``, the probability
that an item is answered correctly, and ``logprob_shift``, a shift of a
log-probability-like score (unbounded; it stands in for the recall task's
answer log-probability). Item ``i`` carries an offset drawn from its own
seeded generator, shared by every condition, so the scores are paired as a
real model's would be. A trial draws from a generator seeded by its own
(item, condition) seed, so a rerun reproduces every outcome exactly.

The true effects between conditions a and b are therefore known:

- ``correct``: independent Bernoulli draws, so the McNemar discordant
  probabilities are p10 = pa (1 - pb) and p01 = pb (1 - pa);
- ``logprob``: a - b = shift_a - shift_b + noise, so Cohen's d_z =
  (shift_a - shift_b) / (noise_sd * sqrt 2), whatever ``item_sd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hebbian.studies.schema import Field, at_least, positive, probability
from hebbian.studies.tasks.base import Item, Task, register_task


@register_task("synthetic")
class SyntheticTask(Task):
    """Outcomes drawn from known distributions; see the module docstring."""

    metrics = {"correct": "binary", "logprob": "continuous"}
    params = {
        "noise_sd": Field("number", required=False, default=1.0, check=positive),
        "item_sd": Field("number", required=False, default=1.0, check=at_least(0)),
    }
    config = {
        "p_correct": Field("number", check=probability),
        "logprob_shift": Field("number", required=False, default=0.0),
    }

    def items(self, n: int) -> list[Item]:
        item_sd = self.settings["item_sd"]
        return [
            Item(
                f"syn-{i:05d}",
                i,
                {"offset": item_sd * np.random.default_rng([self.seed, i]).standard_normal()},
            )
            for i in range(n)
        ]

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float]:
        rng = np.random.default_rng(seed)
        correct = bool(rng.random() < config["p_correct"])
        noise = self.settings["noise_sd"] * rng.standard_normal()
        return {
            "correct": correct,
            "logprob": float(item.data["offset"] + config["logprob_shift"] + noise),
        }
