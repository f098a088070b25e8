"""Fluency of a generated reply, without a judge model: repetition, diversity, degeneration.

A reply is split into words and punctuation marks (``words``): a run of letters, digits or
underscores is one word, every other non-space character is a word of its own, whitespace only
separates. So "\\n\\n\\n" has no words, and a loop of "!!!!" or "..." is a run of repeated words.

- ``repeated_ngram_share`` is rep-n of Welleck et al. (2019, "Neural text degeneration with
  unlikelihood training", their seq-rep-n applied to one reply): 1 - |unique n-grams| / |n-grams|,
  the share of the reply's n-grams that repeat an earlier n-gram of the same reply.
- ``distinct_n`` is distinct-n of Li et al. (2016, "A diversity-promoting objective function for
  neural conversation models"): distinct n-grams over n-grams. Li et al. count over a whole set of
  replies and divide by the number of generated words; here it is one reply, divided by its
  n-grams (as most implementations do), so it lies in [0, 1] and distinct_n = 1 - rep-n.
- ``is_degenerate``: an empty or whitespace-only reply, or one where more than half of the 4-grams
  are repeats (``REP4_THRESHOLD``; the reason is given there).

A reply with fewer than n words has no n-grams: nothing in it repeats (rep-n 0) and nothing
distinct was produced (distinct-n 0). Both are then finite, as a study outcome must be.
"""

from __future__ import annotations

import re

# More than half of the 4-grams repeat earlier ones. A reply that says one sentence of k >= 4
# distinct words twice has rep-4 = 1 - k / (2k - 3), below 0.5 for every k, so saying a thing
# twice is not flagged; saying it a third time gives 1 - k / (3k - 3), above 0.5 for every k > 3.
# The looping replies that prompted this measure (one sentence to the token cap) score near 1,
# human prose near 0 (Welleck et al. 2019 find rep-4 of human continuations close to zero and of
# greedy continuations from a likelihood-trained model several tenths).
REP4_THRESHOLD = 0.5

_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """The reply's words and punctuation marks, in order; whitespace is dropped."""
    return _WORD.findall(text)


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    w = words(text)
    return [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]


def repeated_ngram_share(text: str, n: int = 4) -> float:
    """rep-n: the share of the reply's n-grams that repeat an earlier one (0 when it has none)."""
    grams = _ngrams(text, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def distinct_n(text: str, n: int) -> float:
    """distinct-n: distinct n-grams over n-grams (0 when the reply has none)."""
    grams = _ngrams(text, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def is_degenerate(text: str) -> bool:
    """Empty, whitespace only, or rep-4 above REP4_THRESHOLD; a short real answer ("42") is not."""
    return not text.strip() or repeated_ngram_share(text, 4) > REP4_THRESHOLD


def fluency_outcomes(text: str) -> dict[str, bool | float]:
    """The fluency outcomes a generating task records: degenerate, rep4 and distinct2."""
    return {
        "degenerate": is_degenerate(text),
        "rep4": repeated_ngram_share(text, 4),
        "distinct2": distinct_n(text, 2),
    }
