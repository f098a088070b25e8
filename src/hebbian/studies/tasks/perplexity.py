"""Long-text perplexity: does consolidation lower the loss on tokens beyond the window?

Items are disjoint segments of real long text (a public-domain book from `hebbian.corpus`), each
`segment_tokens` long, so longer than any windowed condition's cache. A trial feeds the segment
teacher-forced through the engine and records the mean negative log-likelihood of the tokens
past the first `skip_tokens` (`nll`), and of the first and second half of those tokens (`nll_early`,
`nll_late`: does a condition's gap grow as more of the segment has been evicted?). Segments are
paired across conditions.

The engine feeds a segment `prefill_chunk` tokens at a time, and inside a chunk each token sees
every earlier token of the chunk besides the cache: a token sees back at most the cache's
capacity plus a chunk. A windowed condition (capacity below the segment) must therefore keep
`skip_tokens >= capacity + prefill_chunk`, or the scored tokens would not all lie beyond its
window (with one chunk per segment, a windowed condition scores exactly like a full cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from hebbian.studies.schema import Field, at_least
from hebbian.studies.tasks.base import Item, register_task
from hebbian.studies.tasks.engine_task import EngineTask


@register_task("perplexity")
class PerplexityTask(EngineTask):
    metrics = {"nll": "continuous", "nll_early": "continuous", "nll_late": "continuous"}
    params = {
        "model": Field("text", required=False, default="default"),
        "corpus": Field("text", required=False, default="austen/emma"),
        "segment_tokens": Field("integer", required=False, default=1024, check=at_least(2)),
        "skip_tokens": Field("integer", required=False, default=256, check=at_least(0)),
    }
    config = None  # EngineConfig keys, checked by check_config

    @cached_property
    def tokens(self) -> list[int]:
        from hebbian import corpus

        _, tokenizer = self.model
        return tokenizer.encode(corpus.load(self.settings["corpus"]), add_special_tokens=False)

    def items(self, n: int) -> list[Item]:
        size = self.settings["segment_tokens"]
        available = len(self.tokens) // size
        if n > available:
            raise ValueError(
                f"corpus {self.settings['corpus']!r} holds only {available} segments of {size} tokens"
            )
        # the seed picks which segments, in a fixed order that a longer run extends
        order = np.random.default_rng(self.seed).permutation(available)
        return [
            Item(f"segment-{int(s):05d}", i, {"start": int(s) * size})
            for i, s in enumerate(order[:n])
        ]

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float]:
        engine = self.engine(config)
        start, size, skip = (
            item.data["start"],
            self.settings["segment_tokens"],
            self.settings["skip_tokens"],
        )
        c = engine.config
        if c.capacity < size and skip < c.capacity + c.prefill_chunk:
            raise ValueError(
                f"skip_tokens={skip} is below the window: with capacity {c.capacity} (window + sinks) and "
                f"prefill_chunk {c.prefill_chunk}, a token sees up to {c.capacity + c.prefill_chunk - 1} "
                f"earlier ones; lower prefill_chunk or raise skip_tokens"
            )
        segment = self.tokens[start : start + size]
        logprobs = engine.score(segment[:1], segment[1:])  # logprobs[i] is token i + 1's
        beyond = logprobs[skip:]
        if len(beyond) < 2:
            raise ValueError(
                f"skip_tokens={skip} leaves fewer than 2 tokens of a {size}-token segment to score"
            )
        half = len(beyond) // 2
        mean = lambda x: -sum(x) / len(x)  # noqa: E731
        return {
            "nll": mean(beyond),
            "nll_early": mean(beyond[:half]),
            "nll_late": mean(beyond[half:]),
        }
