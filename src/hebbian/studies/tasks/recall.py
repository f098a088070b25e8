"""Recall after eviction: can the engine answer a question about a fact that left its window?

Each item (see `recall_items`) is one chat turn: a lead-in, the fact, real filler prose, then the
question. A condition is an engine configuration (`hebbian.engine.EngineConfig` keys) plus
`show_fact` (false for the negative control, which measures the guessing rate). One trial feeds
the prompt once, then, from that state, (1) scores the answer teacher-forced — the log-probability
of the value's tokens after the question and the start of the fact's own sentence — and (2)
generates a greedy reply, kept in the record (`reply`), scored by exact match and for fluency
(`hebbian.studies.fluency`: whether it is degenerate, its rep-4 and distinct-2). It also records
the distance in tokens from the end of the fact to the end of the prompt, which must exceed the
window for the fact to be evicted, and whether a block the memory reads when the question has
been fed holds the answer's last token (`fact_read`: false where the mode reads no blocks; the
retrieval check that tells a fact not found from one found but not said).

The prompt is fed `prefill_chunk` tokens at a time, and inside a chunk each token sees every
earlier token of the chunk besides the cache. In a windowed condition the fact must have left
before the question arrives, so the gap between them must be at least the cache's capacity plus
one chunk; a trial where it is not is refused (a configuration error, not a result).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.schema import Field, at_least
from hebbian.studies.tasks.base import Item, register_task
from hebbian.studies.tasks.engine_task import EngineTask, reads_position
from hebbian.studies.tasks.recall_items import (
    LEAD_IN,
    answer_token,
    filler,
    is_recalled,
    make_fact,
)


@register_task("recall")
class RecallTask(EngineTask):
    metrics = {
        "correct": "binary",
        "logprob": "continuous",
        "distance": "continuous",
        "fact_read": "binary",
        "degenerate": "binary",
        "rep4": "continuous",
        "distinct2": "continuous",
        "reply": "text",
    }
    params = {
        "model": Field("text", required=False, default="default"),
        "corpus": Field("text", required=False, default="austen"),
        "filler_chars": Field("integer", required=False, default=1500, check=at_least(1)),
        "max_tokens": Field("integer", required=False, default=16, check=at_least(1)),
    }
    config = None  # EngineConfig keys plus TASK_KEYS, checked by check_config
    TASK_KEYS = ("show_fact",)

    @cached_property
    def paragraphs(self) -> list[str]:
        from hebbian import corpus

        return list(corpus.paragraphs(self.settings["corpus"], min_chars=200))

    def items(self, n: int) -> list[Item]:
        items = []
        for i in range(n):
            rng = np.random.default_rng([self.seed, i])
            fact = make_fact(rng)
            items.append(
                Item(
                    f"recall-{i:05d}",
                    i,
                    {
                        "kind": fact.kind,
                        "statement": fact.statement,
                        "question": fact.question,
                        "answer": fact.answer,
                        "filler": filler(self.paragraphs, rng, self.settings["filler_chars"]),
                    },
                )
            )
        return items

    def prompt_parts(self, item: Item, show_fact: bool) -> tuple[str, str]:
        """(user message up to and including the fact, the rest of the message)."""
        d = item.data
        head = f"{LEAD_IN}\n\n{d['statement']}" if show_fact else LEAD_IN
        return head, f"\n\n{d['filler']}\n\nQuestion: {d['question']} Answer briefly."

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float | str]:
        engine = self.engine(config)
        tokenizer = engine.tokenizer
        head, tail = self.prompt_parts(item, config.get("show_fact", True))
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": head + tail}], add_generation_prompt=True, tokenize=False
        )
        prompt = tokenizer.encode(rendered, add_special_tokens=False)
        fact_at = rendered.index(head) + len(head)
        fact_end = len(tokenizer.encode(rendered[:fact_at], add_special_tokens=False))
        question = len(
            tokenizer.encode(rendered[: rendered.rindex("\n\nQuestion:")], add_special_tokens=False)
        )
        c = engine.config
        if c.capacity < len(prompt) and question - fact_end < c.capacity + c.prefill_chunk:
            raise ValueError(
                f"{item.id}: the question starts {question - fact_end} tokens after the fact, but with capacity "
                f"{c.capacity} and prefill_chunk {c.prefill_chunk} it could still see it; lower prefill_chunk "
                "or raise filler_chars"
            )
        answer = item.data["answer"]
        prefix = item.data["statement"][: item.data["statement"].index(answer)].rstrip()
        engine.feed(prompt[:-1])
        fact_read = False
        if config.get("show_fact", True):  # the head ends with the fact's statement
            statement = item.data["statement"]
            value = answer_token(tokenizer, rendered, fact_at - len(statement), statement, answer)
            fact_read = reads_position(engine, value)
        with engine.fork():
            context = prompt[-1:] + tokenizer.encode(prefix, add_special_tokens=False)
            logprob = sum(
                engine.score(context, tokenizer.encode(" " + answer, add_special_tokens=False))
            )
        reply = engine.generate(prompt[-1:], max_tokens=self.settings["max_tokens"])
        return {
            "correct": is_recalled(answer, reply),
            "logprob": logprob,
            "distance": float(len(prompt) - fact_end),
            "fact_read": fact_read,
            **fluency_outcomes(reply),
            "reply": reply,
        }
