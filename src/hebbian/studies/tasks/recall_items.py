"""Recall items: a fact with a random value, real filler prose, then the question.

Every value is drawn at random (digits, or names built from syllables), so the model cannot
know it beforehand; the templates vary the kind of fact (codes, names to attributes, places,
numbers). The filler is consecutive paragraphs of a public-domain book from `hebbian.corpus`,
starting at a random paragraph, never text written here or by a model. A short lead-in comes
before the fact so that the fact is not among the attention sinks (the first tokens, which a
bounded cache never evicts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

LEAD_IN = "Here are some notes and a passage from a book."
SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "tas",
    "vo",
    "zir",
    "bel",
    "dun",
    "fa",
    "gor",
    "hi",
    "jun",
    "pe",
    "quo",
    "sa",
    "tor",
    "ul",
    "wen",
    "yam",
)
FIRST_NAMES = (
    "Alice",
    "Bruno",
    "Clara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
    "Marta",
    "Nils",
    "Olga",
    "Pavel",
    "Rosa",
    "Tomas",
)
ANIMALS = ("cat", "dog", "parrot", "rabbit", "tortoise", "goat", "horse", "ferret")
OBJECTS = ("blue safe", "old locker", "garden gate", "north door", "lab cabinet", "red box")
TOWNS = ("Lisbon", "Oslo", "Krakow", "Dublin", "Turin", "Ghent", "Bergen", "Porto", "Graz")


@dataclass(frozen=True)
class Fact:
    kind: str
    statement: str
    question: str
    answer: str


def invented_name(rng: np.random.Generator) -> str:
    return "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()


def digits(rng: np.random.Generator, n: int) -> str:
    return str(int(rng.integers(10 ** (n - 1), 10**n)))


def make_fact(rng: np.random.Generator) -> Fact:
    """One fact of a randomly chosen kind, with a random value."""
    kind = ("code", "pet", "platform", "village")[int(rng.integers(4))]
    person = str(rng.choice(FIRST_NAMES))
    if kind == "code":
        thing, code = str(rng.choice(OBJECTS)), digits(rng, 4)
        return Fact(
            kind, f"The code for the {thing} is {code}.", f"What is the code for the {thing}?", code
        )
    if kind == "pet":
        animal, name = str(rng.choice(ANIMALS)), invented_name(rng)
        return Fact(
            kind,
            f"{person} has a {animal} named {name}.",
            f"What is the name of {person}'s {animal}?",
            name,
        )
    if kind == "platform":
        town, number = str(rng.choice(TOWNS)), digits(rng, 2)
        return Fact(
            kind,
            f"The train to {town} leaves from platform {number}.",
            f"From which platform does the train to {town} leave?",
            number,
        )
    village = invented_name(rng)
    return Fact(
        kind,
        f"{person} was born in the village of {village}.",
        f"In which village was {person} born?",
        village,
    )


def filler(paragraphs: list[str], rng: np.random.Generator, n_chars: int) -> str:
    """Consecutive real paragraphs from a random start, about `n_chars` long."""
    if not paragraphs:
        raise ValueError("no filler paragraphs: is the corpus installed? (make setup)")
    start = int(rng.integers(len(paragraphs)))
    chosen, total = [], 0
    for i in range(len(paragraphs)):
        paragraph = paragraphs[(start + i) % len(paragraphs)]
        chosen.append(paragraph)
        total += len(paragraph) + 2
        if total >= n_chars:
            break
    return "\n\n".join(chosen)


def is_recalled(answer: str, generated: str) -> bool:
    """Exact-match recall: the answer appears as a whole word in the reply's first line.

    Values are random 2-4 digit numbers or invented names, so a reply that contains one
    by chance is rare; the negative control (no fact shown) measures exactly that rate.
    """
    lines = generated.strip().splitlines()
    first = lines[0] if lines else ""
    return re.search(rf"(?<![\w]){re.escape(answer)}(?![\w])", first, re.IGNORECASE) is not None


def answer_token(tokenizer, rendered: str, statement_at: int, statement: str, answer: str) -> int:
    """The position in the encoded `rendered` of the answer's last token, where the fact's
    `statement` starts at character `statement_at` (the answer's last occurrence in it)."""
    answer_end = statement_at + statement.rindex(answer) + len(answer)
    return len(tokenizer.encode(rendered[:answer_end], add_special_tokens=False)) - 1
