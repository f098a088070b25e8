"""Fluency measures on hand-made replies: what is degenerate and what is not, with exact rep-n and distinct-n."""

import pytest

from hebbian.studies.fluency import (
    distinct_n,
    fluency_outcomes,
    is_degenerate,
    repeated_ngram_share,
    words,
)

LOOP = "I am very happy to help you today. " * 6
ANSWER = (
    "The access code Mr. Knightley gave was 4821, written on the back of the letter from Hartfield."
)


def test_words_split_punctuation_and_drop_whitespace():
    assert words("Yes, 42!\n\n") == ["Yes", ",", "42", "!"]
    assert words("\n\n\n") == []


def test_empty_and_whitespace_replies_are_degenerate():
    assert is_degenerate("")
    assert is_degenerate("\n\n\n")
    assert is_degenerate("  \t\n ")


def test_a_looping_sentence_is_degenerate():
    # 9 words a sentence, 6 times: 51 four-grams, 9 distinct -> rep-4 = 1 - 9/51
    assert repeated_ngram_share(LOOP) == pytest.approx(1 - 9 / 51)
    assert is_degenerate(LOOP)


def test_a_normal_answer_is_not_degenerate():
    assert repeated_ngram_share(ANSWER) == 0.0
    assert distinct_n(ANSWER, 2) == 1.0
    assert not is_degenerate(ANSWER)


def test_a_short_answer_has_no_ngrams_and_is_not_degenerate():
    assert repeated_ngram_share("42") == 0.0
    assert distinct_n("42", 2) == 0.0
    assert not is_degenerate("42")
    assert not is_degenerate("Kellynch.")


def test_one_repeated_phrase_stays_below_the_threshold():
    text = "I think the answer is 4821. Yes, I think the answer is 4821, as the letter said."
    # 21 words and marks, 18 four-grams; "I think the answer", "think the answer is", "the answer is 4821" recur
    assert repeated_ngram_share(text) == pytest.approx(3 / 18)
    assert not is_degenerate(text)


def test_a_sentence_said_twice_is_not_degenerate_but_three_times_is():
    sentence = "She walked home across the meadow alone. "
    assert not is_degenerate(sentence * 2)
    assert is_degenerate(sentence * 3)


def test_distinct_n_counts_distinct_ngrams_over_ngrams():
    assert distinct_n("a b a b a", 2) == pytest.approx(2 / 4)
    assert distinct_n("a b a b a", 1) == pytest.approx(2 / 5)
    assert distinct_n("a b a b a", 2) == pytest.approx(1 - repeated_ngram_share("a b a b a", 2))


def test_n_below_one_is_refused():
    with pytest.raises(ValueError, match="n must be at least 1"):
        repeated_ngram_share("a b", 0)


def test_fluency_outcomes_are_the_three_study_outcomes():
    assert fluency_outcomes("\n\n\n") == {"degenerate": True, "rep4": 0.0, "distinct2": 0.0}
    assert fluency_outcomes(ANSWER)["degenerate"] is False
