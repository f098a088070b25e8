"""Which heads of a model find an evicted fact's block from the question? (episodic's retrieval heads)

On recall items of a tuning split (item seed 7 by default: never the confirmatory items), each
item's prompt is fed with a window of 128 + 4 sinks, so that the fact is evicted, through the
`episodic` mode with every head scoring (retrieval_heads="all"); after the prompt, each (layer,
KV head) has scored every block with the question's queries. A head hits when its best block
holds the fact. The control is a mismatched question (the next item's question after this item's
fact): a head that hits as often then finds salience or position, not the asked fact.

Heads are ranked by hit rate with the real question minus the mismatched one on the first half
of the items and tested on the second half; the chosen heads' spec (`--top` of them) is printed
for EngineConfig(retrieval_heads=...) or consolidation/episodic.py's RETRIEVAL_HEADS table.

    python experiments/retrieval_heads.py [--model default] [--items 40] [--top 6] \
        [--out reports/retrieval-heads-MODEL.md] [--log runs/retrieval-heads-MODEL.jsonl]

With --log, each prompt's hits are appended to that file as they are measured and a rerun with
the same arguments reads them back instead of measuring again (an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

import numpy as np
from rich.progress import track

from hebbian.engine import EngineConfig, HebbianEngine
from hebbian.io import provenance
from hebbian.models import load
from hebbian.studies.tasks import Item
from hebbian.studies.tasks.recall import RecallTask

CONFIG = EngineConfig(
    window=128,
    n_sink=4,
    prefill_chunk=32,
    mode="episodic",
    retrieval_heads="all",
    budget=float("inf"),
    block=16,
)


def hits(engine: HebbianEngine, task: RecallTask, item: Item) -> dict[tuple[int, int], bool]:
    """(layer, KV head) -> whether its best-scored block holds the fact, after item's prompt."""
    tokenizer = engine.tokenizer
    head, tail = task.prompt_parts(item, show_fact=True)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": head + tail}], add_generation_prompt=True, tokenize=False
    )
    prompt = tokenizer.encode(rendered, add_special_tokens=False)
    value = rendered.index(item.data["answer"], rendered.index(item.data["statement"]))
    # the value's first token
    answer = len(tokenizer.encode(rendered[:value], add_special_tokens=False))
    engine.reset()
    engine.feed(prompt)
    strategy = engine.strategy
    # the prompt's last chunk chooses at the next step's first layer; no step follows here
    strategy.choose()
    holds = [int(b.positions[0]) <= answer <= int(b.positions[-1]) for b in strategy.complete()]
    if not any(holds):
        raise RuntimeError(f"{item.id}: the fact is still in the window; lengthen the filler")
    fact = holds.index(True)
    return {
        (layer, h): int(np.argmax(np.array(scores[i]))) == fact
        for layer, scores in strategy.scores.items()
        for i, h in enumerate(strategy.heads[layer])
    }


def mismatched(items: list[Item]) -> list[Item]:
    """Each item's fact with the next item's question (a question its prompt does not answer)."""
    return [
        replace(item, data={**item.data, "question": items[(i + 1) % len(items)].data["question"]})
        for i, item in enumerate(items)
    ]


def measured(
    engine: HebbianEngine, task: RecallTask, items: list[Item], kind: str, log: str | None
) -> list[dict[tuple[int, int], bool]]:
    """hits() for every item, read back from / appended to the JSON-lines log when there is one."""
    done: dict[tuple[str, str], dict[tuple[int, int], bool]] = {}
    if log and os.path.exists(log):
        with open(log) as f:
            for line in f:
                row = json.loads(line)
                if row["kind"] == kind:
                    key = (row["item"], row["question"])
                    done[key] = {(layer, h): hit for layer, h, hit in row["hits"]}
    table = []
    for item in track(items, description=f"{kind} questions"):
        key = (item.id, item.data["question"])
        if key not in done:
            done[key] = hits(engine, task, item)
            if log:
                hit_list = [[*h, v] for h, v in done[key].items()]
                row = {"kind": kind, "item": item.id, "question": key[1], "hits": hit_list}
                with open(log, "a") as f:
                    f.write(json.dumps(row) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        table.append(done[key])
    return table


def rates(table: list[dict]) -> dict[tuple[int, int], float]:
    return {head: float(np.mean([row[head] for row in table])) for head in table[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--top", type=int, default=6)
    parser.add_argument(
        "--seed", type=int, default=7, help="recall item seed (7: the recall tuning split)"
    )
    parser.add_argument("--filler-chars", type=int, default=1000)
    parser.add_argument("--out", help="write the markdown report here")
    parser.add_argument(
        "--log", help="JSON-lines file of per-prompt hits: written as it goes, resumed from"
    )
    args = parser.parse_args()

    model, tokenizer = load(args.model)
    engine = HebbianEngine(model, tokenizer, CONFIG)
    task = RecallTask(
        {
            "model": args.model,
            "corpus": "austen",
            "filler_chars": args.filler_chars,
            "max_tokens": 16,
        },
        seed=args.seed,
    )
    items = task.items(args.items)
    real = measured(engine, task, items, "real", args.log)
    control = measured(engine, task, mismatched(items), "mismatched", args.log)
    half = len(items) // 2
    pick = {h: rates(real[:half])[h] - rates(control[:half])[h] for h in real[0]}
    chosen = sorted(sorted(pick, key=lambda h: -pick[h])[: args.top])
    held_real, held_control = rates(real[half:]), rates(control[half:])
    spec = ",".join(f"{layer}:{h}" for layer, h in chosen)
    lines = [
        f"# Retrieval heads of `{args.model}`",
        "",
        f"Recall items of seed {args.seed} (filler {args.filler_chars} characters), window 128 + 4 sinks, "
        f"blocks of {CONFIG.block}; heads picked on items 0-{half - 1} by hit@1 with the real question minus "
        f"a mismatched one, tested on items {half}-{len(items) - 1}.",
        "",
        f"retrieval_heads: `{spec}`",
        "",
        "| head (layer:kv) | pick: real - mismatched | held out: real | held out: mismatched |",
        "|---|---|---|---|",
        *[
            f"| {layer}:{h} | {pick[(layer, h)]:+.2f} | {held_real[(layer, h)]:.2f} | {held_control[(layer, h)]:.2f} |"
            for layer, h in chosen
        ],
        "",
        f"Mean over all {len(real[0])} heads, held out: real {np.mean(list(held_real.values())):.2f}, "
        f"mismatched {np.mean(list(held_control.values())):.2f}.",
        "",
        provenance.markdown(),
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
