"""Synthetic key-value recall sequences: the data of all three experiments.

A sequence is a story followed by queries. The story is filler tokens with key-value
pairs (two adjacent tokens) scattered through it; the queries are ``QUERY key`` for each
queried pair in random order, and the target at the key's position is that pair's value
(shifted by the task's answer shift). The distance of an item is from the value token to
the query key that asks for it: the controller's window alone cannot bridge long ones.

Options make the three experiments:
- ``n_distractors``: extra pairs that are never queried (interference);
- ``mark``: queried pairs are announced by a MARK token, distractors are not, so what is
  worth remembering must be read from context;
- ``task``: continual learning draws keys from the task's own block of the key vocabulary
  (a distribution shift) and maps answers with the task's shift (a rule shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Role of each position, returned with every batch for the analyses.
FILLER, KEY, VALUE, DISTRACTOR_KEY, DISTRACTOR_VALUE, MARK, QUERY, QUERY_KEY = range(8)
ROLE_NAMES = (
    "filler",
    "key",
    "value",
    "distractor key",
    "distractor value",
    "mark",
    "query",
    "query key",
)


@dataclass(frozen=True)
class Vocabulary:
    """Token id layout: fillers, then ``n_tasks`` blocks of keys, values, QUERY and MARK."""

    n_fillers: int = 8
    n_keys: int = 8  # per task block
    n_values: int = 8
    n_tasks: int = 1

    @property
    def first_key(self) -> int:
        return self.n_fillers

    @property
    def first_value(self) -> int:
        return self.n_fillers + self.n_keys * self.n_tasks

    @property
    def query(self) -> int:
        return self.first_value + self.n_values

    @property
    def mark(self) -> int:
        return self.query + 1

    @property
    def size(self) -> int:
        return self.mark + 1


@dataclass(frozen=True)
class RecallTask:
    """How one family of sequences is drawn (see the module docstring)."""

    vocab: Vocabulary
    story_length: int = 48
    n_pairs: int = 4
    n_distractors: int = 0
    mark: bool = False
    task: int = 0
    answer_shift: int = 0  # task t answers value v with (v + t * answer_shift) mod n_values

    def __post_init__(self) -> None:
        unit = 3 if self.mark else 2
        used = self.n_pairs * unit + self.n_distractors * 2
        if used > self.story_length:
            raise ValueError(f"story_length {self.story_length} cannot hold {used} pair tokens")
        if self.n_pairs + self.n_distractors > self.vocab.n_keys:
            raise ValueError(
                f"{self.n_pairs + self.n_distractors} pairs need distinct keys, "
                f"only {self.vocab.n_keys} per task"
            )
        if not 0 <= self.task < self.vocab.n_tasks:
            raise ValueError(f"task must lie in [0, {self.vocab.n_tasks}), got {self.task}")

    @property
    def length(self) -> int:
        return self.story_length + 2 * self.n_pairs


@dataclass
class Batch:
    """Sequences (B, T), their targets (-1 where none), item distances (0 where none) and roles."""

    tokens: np.ndarray
    targets: np.ndarray
    distances: np.ndarray
    roles: np.ndarray


def sample(task: RecallTask, batch: int, rng: np.random.Generator) -> Batch:
    """Draw ``batch`` sequences of ``task`` with ``rng``."""
    out = Batch(*(np.zeros((batch, task.length), np.int64) for _ in range(4)))
    out.targets[:] = -1
    for b in range(batch):
        _fill(task, rng, out, b)
    return out


def _fill(task: RecallTask, rng: np.random.Generator, out: Batch, b: int) -> None:
    vocab = task.vocab
    n_units = task.n_pairs + task.n_distractors
    keys = (
        vocab.first_key
        + task.task * vocab.n_keys
        + rng.choice(vocab.n_keys, n_units, replace=False)
    )
    values = rng.integers(0, vocab.n_values, n_units)
    unit_tokens = task.n_pairs * (3 if task.mark else 2) + task.n_distractors * 2
    # Units (index >= 0) and single fillers (-1) in random order place the pairs uniformly.
    order = rng.permutation(
        np.concatenate([np.arange(n_units), -np.ones(task.story_length - unit_tokens, int)])
    )
    pos, value_at = 0, {}
    for unit in order:
        if unit < 0:
            out.tokens[b, pos], out.roles[b, pos] = rng.integers(0, vocab.n_fillers), FILLER
            pos += 1
            continue
        queried = unit < task.n_pairs
        if queried and task.mark:
            out.tokens[b, pos], out.roles[b, pos] = vocab.mark, MARK
            pos += 1
        out.tokens[b, pos : pos + 2] = keys[unit], vocab.first_value + values[unit]
        out.roles[b, pos : pos + 2] = (
            (KEY, VALUE) if queried else (DISTRACTOR_KEY, DISTRACTOR_VALUE)
        )
        value_at[unit] = pos + 1
        pos += 2
    for i, unit in enumerate(rng.permutation(task.n_pairs)):
        q = task.story_length + 2 * i
        out.tokens[b, q : q + 2] = vocab.query, keys[unit]
        out.roles[b, q : q + 2] = QUERY, QUERY_KEY
        answer = (values[unit] + task.task * task.answer_shift) % vocab.n_values
        out.targets[b, q + 1] = vocab.first_value + answer
        out.distances[b, q + 1] = q + 1 - value_at[unit]


def chance(task: RecallTask) -> float:
    """Accuracy of guessing a value uniformly."""
    return 1.0 / task.vocab.n_values
