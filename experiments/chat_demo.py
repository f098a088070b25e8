"""The chat turns `make run` plays: a passage of Austen with a fact in its first lines, a second
passage, then a question about the fact, asked once the fact and both replies have left a
128-token window.

    python experiments/chat_demo.py          # the turns, one per line (what `hebbian chat` reads)
    python experiments/chat_demo.py --show   # the same, labelled, for a reader
"""

from __future__ import annotations

import sys

from hebbian import corpus

FACT = "Marta has a parrot named Quowen."
QUESTION = "Question: What is the name of Marta's parrot? Answer briefly."


def turns() -> list[str]:
    paragraphs = [p.replace("\n", " ") for p in corpus.paragraphs("austen", min_chars=200)]
    first, second = " ".join(paragraphs[800:803]), " ".join(paragraphs[803:805])
    return [
        f"Here are some notes and a passage from a book. {FACT} {first} Summarize the passage in one sentence.",
        f"Here is the next passage. {second} Summarize it in one sentence.",
        QUESTION,
    ]


if __name__ == "__main__":
    for i, turn in enumerate(turns(), 1):
        print(
            f"you ({i})> {turn[:160]}{'...' if len(turn) > 160 else ''}"
            if "--show" in sys.argv[1:]
            else turn
        )
