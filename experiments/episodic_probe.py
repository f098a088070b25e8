"""Quick look at episodic recall on recall items of a tuning split (not a study: a probe).

Runs the recall task's trial on `n` items (item seed 7, the recall tuning split) for each named
condition and prints, per trial, whether the answer was recalled, the answer log-probability, the
blocks read when the question was asked and whether one holds the fact, and the reply.

    python experiments/episodic_probe.py [n] [condition=key:value,... ...] [--model SPEC] > probe.jsonl
    python experiments/episodic_probe.py --summarize probe.jsonl [more.jsonl ...]

--model takes what `hebbian chat --model` takes (default: the default model). --summarize prints
a markdown table per condition of what the trials printed: recall (the answer in the reply's
first line, as the studies score it, and anywhere in its 16 tokens), replies that begin "The
passage", trials whose read blocks held the fact, mean answer log-probability, degenerate
replies, and misses on items the first condition (the reference) recalled.
"""

from __future__ import annotations

import argparse
import json

from hebbian.engine.consolidation.base import all_knobs
from hebbian.studies.tasks.recall import RecallTask
from hebbian.studies.tasks.recall_items import is_recalled

BASE = {"window": 128, "n_sink": 4, "prefill_chunk": 32}
DEFAULT = {
    "window_only": {"mode": "off"},
    "episodic": {"mode": "episodic"},
}


def parse(spec: str) -> tuple[str, dict]:
    name, _, knobs = spec.partition("=")
    config = {}
    for part in filter(None, knobs.split(",")):
        key, _, value = part.partition(":")
        try:
            config[key] = json.loads(value)  # numbers and booleans
        except json.JSONDecodeError:
            config[key] = value
        knob = all_knobs().get(key)
        if knob is not None and isinstance(knob.default, str):  # "true": a recall_positions value
            config[key] = value
    return name, config


def summarize(paths: list[str]) -> str:
    """A markdown table of probe logs (the first condition seen is the reference)."""
    rows = [json.loads(line) for path in paths for line in open(path) if line.strip()]
    by: dict[str, dict[str, dict]] = {}
    for r in rows:
        by.setdefault(r["condition"], {})[r["item"]] = r
    reference = by[next(iter(by))]
    lines = [
        "| condition | items | recalled | answer anywhere in the reply "
        '| reply begins "The passage" | fact\'s block read '
        "| mean answer log-prob | degenerate | missed where the reference recalled |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, trials in by.items():
        t = trials.values()
        missed = sum(
            reference.get(i, {}).get("correct", False) and not r["correct"]
            for i, r in trials.items()
        )
        lines.append(
            f"| `{name}` | {len(t)} | {sum(r['correct'] for r in t)} "
            f"| {sum(is_recalled(r['answer'], ' '.join(r['reply'].split())) for r in t)} "
            f"| {sum(r['reply'].startswith('The passage') for r in t)} | {sum(r['fact_read'] for r in t)} "
            f"| {sum(r['logprob'] for r in t) / len(t):.2f} | {sum(r.get('degenerate', False) for r in t)} "
            f"| {missed} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10, help="items (default 10)")
    parser.add_argument("conditions", nargs="*", metavar="condition=key:value,...")
    parser.add_argument(
        "--model", default="default", help="model spec (default: the default model)"
    )
    parser.add_argument(
        "--summarize", nargs="+", metavar="LOG", help="print a table of probe logs instead"
    )
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
        return
    conditions = dict(parse(s) for s in args.conditions) or DEFAULT
    task = RecallTask(
        {"model": args.model, "corpus": "austen", "filler_chars": 1000, "max_tokens": 16}, seed=7
    )
    for item in task.items(args.n):
        for name, knobs in conditions.items():
            config = {**BASE, **knobs}
            outcome = task.run_trial(item, config, seed=0)
            # as the trial left it (the blocks its reply read)
            engine = task.__dict__["_engines"][json.dumps(config, sort_keys=True)]
            read = getattr(engine.strategy, "selected_positions", lambda: [])()
            print(
                json.dumps(
                    {
                        "item": item.id,
                        "condition": name,
                        "answer": item.data["answer"],
                        **outcome,
                        "read": read,
                        "reply": engine.transcript.rsplit("assistant\n", 1)[-1],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
