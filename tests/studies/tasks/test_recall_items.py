"""Recall items: random values, real filler, and the exact-match scorer."""

import numpy as np
import pytest

from hebbian.studies.tasks.recall_items import filler, invented_name, is_recalled, make_fact


def test_facts_vary_and_their_answers_appear_in_the_statement():
    facts = [make_fact(np.random.default_rng([3, i])) for i in range(200)]
    assert {f.kind for f in facts} == {"code", "pet", "platform", "village"}
    assert all(f.answer in f.statement and f.answer not in f.question for f in facts)
    assert len({f.answer for f in facts}) > 150  # values are random, rarely repeated


def test_items_are_reproducible_from_their_seed():
    assert make_fact(np.random.default_rng([1, 2])) == make_fact(np.random.default_rng([1, 2]))
    assert invented_name(np.random.default_rng(5)) == invented_name(np.random.default_rng(5))


def test_filler_is_consecutive_real_paragraphs():
    paragraphs = [f"paragraph {i} " * 10 for i in range(50)]
    text = filler(paragraphs, np.random.default_rng(0), 1000)
    chunks = text.split("\n\n")
    indices = [paragraphs.index(c) for c in chunks]
    assert all((b - a) % 50 == 1 for a, b in zip(indices, indices[1:]))
    assert len(text) >= 1000
    with pytest.raises(ValueError, match="corpus"):
        filler([], np.random.default_rng(0), 10)


@pytest.mark.parametrize(
    "answer, reply, recalled",
    [
        ("7352", "7352.", True),
        ("7352", "The code for the red box is 7352.", True),
        ("735", "The code is 7352.", False),  # a whole word, not a prefix
        ("Kalo", "kalo", True),
        ("Kalo", "I do not know.\nKalo", False),  # only the first line counts
        ("45", "", False),
    ],
)
def test_exact_match_recall(answer, reply, recalled):
    assert is_recalled(answer, reply) is recalled
