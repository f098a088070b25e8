"""Continuation of long text: does a condition still write fluent text once its window has slid?

The generative check beside the perplexity task. Items are the same disjoint segments of a book
(`segment_tokens` long, picked by the item seed as in `perplexity`, so the same seed gives the
same segments). A trial feeds the segment but its last token through the engine, `prefill_chunk`
tokens at a time (a windowed condition evicts as it goes), then generates a greedy continuation of
`max_tokens` tokens from the last one, kept in the record (`reply`), and scores it for fluency
(`hebbian.studies.fluency`): whether it is degenerate, its rep-4 and its distinct-2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.schema import Field, at_least
from hebbian.studies.tasks.base import Item, register_task
from hebbian.studies.tasks.perplexity import PerplexityTask


@register_task("continuation")
class ContinuationTask(PerplexityTask):
    metrics = {
        "degenerate": "binary",
        "rep4": "continuous",
        "distinct2": "continuous",
        "reply": "text",
    }
    params = {
        "model": Field("text", required=False, default="default"),
        "corpus": Field("text", required=False, default="austen/emma"),
        "segment_tokens": Field("integer", required=False, default=512, check=at_least(2)),
        "max_tokens": Field("integer", required=False, default=64, check=at_least(1)),
    }

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float | str]:
        engine = self.engine(config)
        segment = self.tokens[
            item.data["start"] : item.data["start"] + self.settings["segment_tokens"]
        ]
        engine.feed(segment[:-1])
        reply = engine.generate(segment[-1:], max_tokens=self.settings["max_tokens"])
        return {**fluency_outcomes(reply), "reply": reply}
