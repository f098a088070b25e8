"""Needle in a haystack: one fact hidden at a chosen depth of real prose of a chosen length.

The classic long-context test (Kamradt's needle in a haystack; RULER's multi-key needle when
`distractors` > 0), on the recall items of `recall_items`. Items are cells of a grid: every
prompt length in `lengths` (tokens, counted with the model's tokenizer), every depth in
`depths` (the share of the filler before the fact) and every distractor count in
`distractors` (other facts of the same kind, with other subjects and values, at random depths;
one fact is asked). Item i takes cell i mod the number of cells, so any prefix of the items
covers the cells evenly, and a fresh random fact and filler start (real corpus prose,
consecutive paragraphs cut at a sentence end so that the whole chat-templated prompt is at most
the cell's length; the prompt's real length is recorded as `tokens`). Facts sit at sentence
ends of the filler.

A condition is an engine configuration (`hebbian.engine.EngineConfig` keys) plus `show_fact`
(false for the negative control: the asked fact is left out, the distractors stay) and `oracle`
(mode episodic only: the blocks holding the fact's tokens are always read). One trial, as in
`recall`: feed the prompt but its last token, score the answer teacher-forced inside a fork
(the log-probability of the value's tokens after the question and the start of the fact's own
sentence: under episodic, that sentence start also chooses which blocks the scored tokens
read), then generate the greedy reply from the last token, scored by exact match and for
fluency. Besides the scores it records whether the fact had left every layer's cache when the
prompt ended (`evicted`), whether a block read when the question was asked holds the value's
last token (`fact_read`, false where the mode reads no blocks), and the bytes the engine's cache
and consolidated state hold at the end (`memory_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from itertools import product
from typing import Any

import numpy as np

from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.schema import Field, at_least
from hebbian.studies.tasks.base import Item, register_task
from hebbian.studies.tasks.engine_task import EngineTask, reads_position
from hebbian.studies.tasks.recall_items import LEAD_IN, answer_token, is_recalled, make_fact

SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")


def number_list(check):
    """A Field check: a non-empty list of numbers, each passing `check` (a message or None)."""

    def checked(value: Any) -> str | None:
        if (
            not isinstance(value, list)
            or not value
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
        ):
            return f"must be a non-empty list of numbers, got {value!r}"
        return next((problem for v in value if (problem := check(v))), None)

    return checked


def _length(v) -> str | None:
    return (
        None
        if isinstance(v, int) and v >= 64
        else f"a length must be a whole number of tokens >= 64, got {v!r}"
    )


def _depth(v) -> str | None:
    return None if 0 <= v <= 1 else f"a depth must lie in [0, 1], got {v!r}"


def _count(v) -> str | None:
    return (
        None
        if isinstance(v, int) and v >= 0
        else f"a distractor count must be a whole number >= 0, got {v!r}"
    )


def cut_at_sentence(text: str) -> str:
    """`text` up to its last sentence end (all of it if it has none)."""
    ends = [m.end() for m in SENTENCE_END.finditer(text + " ")]
    return text[: ends[-1]] if ends else text


def insert_facts(filler: str, facts: list[tuple[float, str]]) -> str:
    """`filler` with each (depth, statement) put after the sentence end nearest depth x its length."""
    ends = np.array([0] + [m.end() for m in SENTENCE_END.finditer(filler + " ")])
    cuts = [int(ends[np.abs(ends - depth * len(filler)).argmin()]) for depth, _ in facts]
    out = filler
    for cut, (_, statement) in sorted(zip(cuts, facts), key=lambda x: -x[0]):
        out = f"{out[:cut]} {statement}{out[cut:]}" if cut else f"{statement} {out}"
    return out


@register_task("needle")
class NeedleTask(EngineTask):
    metrics = {
        "correct": "binary",
        "logprob": "continuous",
        "fact_read": "binary",
        "evicted": "binary",
        "memory_bytes": "continuous",
        "length": "continuous",
        "depth": "continuous",
        "distractors": "continuous",
        "tokens": "continuous",
        "distance": "continuous",
        "degenerate": "binary",
        "rep4": "continuous",
        "distinct2": "continuous",
        "reply": "text",
    }
    params = {
        "model": Field("text", required=False, default="default"),
        "corpus": Field("text", required=False, default="austen"),
        "lengths": Field("list", check=number_list(_length)),
        "depths": Field("list", check=number_list(_depth)),
        "distractors": Field("list", required=False, default=[0], check=number_list(_count)),
        "max_tokens": Field("integer", required=False, default=16, check=at_least(1)),
    }
    config = None  # EngineConfig keys plus TASK_KEYS, checked by check_config
    TASK_KEYS = ("show_fact", "oracle")

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> str | None:
        if config.get("oracle") and config.get("mode") != "episodic":
            return "oracle pins the fact's blocks: only with mode episodic"
        return super().check_config(config)

    @cached_property
    def cells(self) -> list[tuple[int, float, int]]:
        """(length, depth, distractors) of every cell, in item order."""
        s = self.settings
        return list(product(s["lengths"], s["depths"], s["distractors"]))

    @cached_property
    def paragraphs(self) -> list[str]:
        from hebbian import corpus

        return list(corpus.paragraphs(self.settings["corpus"], min_chars=200))

    @cached_property
    def tokenizer(self):
        return self.model[1]

    def items(self, n: int) -> list[Item]:
        return [self.item(i) for i in range(n)]

    def item(self, i: int) -> Item:
        length, depth, n_distractors = self.cells[i % len(self.cells)]
        rng = np.random.default_rng([self.seed, i])
        fact = make_fact(rng)
        others = []
        while len(others) < n_distractors:  # same kind, another question and another value
            other = make_fact(rng)
            if other.kind == fact.kind and all(
                other.question != f.question and other.answer != f.answer for f in (fact, *others)
            ):
                others.append(other)
        data = {
            "length": length,
            "depth": depth,
            "kind": fact.kind,
            "statement": fact.statement,
            "question": fact.question,
            "answer": fact.answer,
            "distractors": [(float(rng.uniform()), f.statement) for f in others],
        }
        data["filler"] = self.filler(rng, length - len(self.encode(self.prompt(data, "", True))))
        return Item(f"needle-{i:05d}", i, data)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def filler(self, rng: np.random.Generator, n_tokens: int) -> str:
        """Consecutive paragraphs from a random start, cut at a sentence end to at most `n_tokens` tokens."""
        if n_tokens < 1:
            raise ValueError(
                f"a cell's length leaves {n_tokens} tokens of filler: raise the lengths"
            )
        start, chosen, counted = int(rng.integers(len(self.paragraphs))), [], 0
        for k in range(len(self.paragraphs)):
            chosen.append(self.paragraphs[(start + k) % len(self.paragraphs)])
            counted += len(self.encode(chosen[-1])) + 1  # about one token for the paragraph break
            if counted > n_tokens:
                tokens = self.encode("\n\n".join(chosen))
                return cut_at_sentence(self.tokenizer.decode(tokens[:n_tokens]))
        raise ValueError(f"the corpus {self.settings['corpus']} holds fewer than {n_tokens} tokens")

    def prompt(self, data: Mapping[str, Any], filler: str, show_fact: bool) -> str:
        """The chat-templated prompt: lead-in, the filler with the facts in it, then the question."""
        facts = ([(data["depth"], data["statement"])] if show_fact else []) + [
            tuple(d) for d in data["distractors"]
        ]
        body = insert_facts(filler, facts) if filler else " ".join(s for _, s in facts)
        content = f"{LEAD_IN}\n\n{body}\n\nQuestion: {data['question']} Answer briefly."
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )

    def fact_positions(self, rendered: str, statement: str, answer: str) -> tuple[int, int, int]:
        """Token positions in the encoded `rendered` of the statement's first token, the answer's last
        token and the statement's last token."""
        at = rendered.index(statement)
        # a word's token carries the space before it
        first = len(self.encode(rendered[:at].rstrip(" ")))
        return (
            first,
            answer_token(self.tokenizer, rendered, at, statement, answer),
            len(self.encode(rendered[: at + len(statement)])) - 1,
        )

    def run_trial(
        self, item: Item, config: Mapping[str, Any], seed: int
    ) -> dict[str, bool | float]:
        d, show_fact = item.data, config.get("show_fact", True)
        engine = self.engine(config)
        rendered = self.prompt(d, d["filler"], show_fact)
        prompt = self.encode(rendered)
        answer = d["answer"]
        if hasattr(engine.strategy, "pinned"):  # an oracle's pins are this trial's alone
            engine.strategy.pinned = None
        if show_fact:
            first, value, last = self.fact_positions(rendered, d["statement"], answer)
            if config.get("oracle"):
                engine.strategy.pinned = (first, last)
        prefix = d["statement"][: d["statement"].rindex(answer)].rstrip()
        engine.feed(prompt[:-1])
        evicted = show_fact and not any(
            (np.array(c.held("positions")) == value).any()
            for c in engine.cache
            if hasattr(c, "held")
        )
        with engine.fork():
            context = prompt[-1:] + self.encode(prefix)
            logprob = sum(engine.score(context, self.encode(" " + answer)))
        fact_read = show_fact and reads_position(engine, value)
        reply = engine.generate(prompt[-1:], max_tokens=self.settings["max_tokens"])
        diagnostics = engine.diagnostics()
        return {
            "correct": is_recalled(answer, reply),
            "logprob": logprob,
            "fact_read": fact_read,
            "evicted": evicted,
            "memory_bytes": float(diagnostics["cache_bytes"] + diagnostics["memory_bytes"]),
            "length": float(d["length"]),
            "depth": float(d["depth"]),
            "distractors": float(len(d["distractors"])),
            "tokens": float(len(prompt)),
            "distance": float(len(prompt) - value if show_fact else 0),
            **fluency_outcomes(reply),
            "reply": reply,
        }
