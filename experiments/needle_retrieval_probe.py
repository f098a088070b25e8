"""Why does episodic miss the fact's block in long needle prompts? (a probe on tuning items)

Feeds needle items of a tuning seed through the needle study's `episodic` condition (window 1020
+ 4 sinks, prompts fed 512 tokens at a time) up to the question, as a trial does, with one
change that leaves what is read as it was: every KV head of every layer keeps its queries, but
only the engine's own retrieval heads vote on what to read (the extra queries count against a
finite budget, so there the store holds a few blocks fewer than a trial's). At every choice
(every prompt chunk) each head's block scores are saved (the largest scaled q.k over the block's
keys and the kept queries), and at the question's choice the same per kept query, so that other
rules (which heads, contrast or not, how many of the question's queries) can be compared offline
on the same prompts. No reply is generated: this measures finding, not saying.

    python experiments/needle_retrieval_probe.py --out runs/needle-retrieval [--seed 7101] \
        [--lengths 4096 8192] [--depths 0.1 0.3 0.5 0.7] [--distractors 0 3] [--items 16] \
        [--budget inf] [--min-bits 2]
    python experiments/needle_retrieval_probe.py --summarize runs/needle-retrieval

Each item is saved as it finishes (ITEM.npz), and items already saved are skipped, so the probe
resumes after a stop.
"""

from __future__ import annotations

import argparse
import json
import types
from pathlib import Path

import mlx.core as mx
import numpy as np

CONDITION = {"window": 1020, "n_sink": 4, "mode": "episodic", "prefill_chunk": 512}
BLOCK = 32  # episodic's default block


def recording(strategy, voters: dict[int, list[int]], log: list):
    """Wrap `strategy.choose` so that only `voters` (layer -> KV heads) choose, and every choice
    first appends to `log`, over the complete blocks, each head's per-query scores ((layer,
    head) -> (queries, N)) and the blocks' first positions ("starts")."""
    every_head, choose = strategy.heads, type(strategy).choose

    def wrapped(self):
        if not self.due:
            return
        complete, per_query = self.complete(), {}
        for layer, queries in self.queries.items() if complete else ():
            heads = every_head[layer]
            keys = mx.concatenate(
                [self.block_keys(b, layer)[mx.array(heads)] for b in complete],
                axis=1,
            ).astype(mx.float32)  # (h, N * block, D)
            h, rep, Q, D = queries.shape
            q = queries.astype(mx.float32).reshape(h, rep * Q, D) * self.scales[layer]
            scores = (q @ keys.swapaxes(-1, -2)).reshape(h, rep, Q, len(complete), -1)
            scores = np.array(scores.max(axis=(1, 4)))  # (h, Q, N): best over reps and tokens
            for i, head in enumerate(heads):
                per_query[(layer, head)] = scores[i]
        per_query["starts"] = np.array([int(b.positions[0]) for b in complete])
        log.append(per_query)
        kept = self.queries
        self.heads = voters
        self.queries = {
            layer: kept[layer][mx.array([every_head[layer].index(h) for h in hs])]
            for layer, hs in voters.items()
            if layer in kept
        }
        try:
            choose(self)
        finally:
            self.heads, self.queries = every_head, kept

    strategy.choose = types.MethodType(wrapped, strategy)


def record_arrays(strategy, log: list, **extra) -> dict[str, np.ndarray]:
    """What a probe saves of one prompt: the blocks the engine reads after it (making the
    question's choice), every choice's scores in `log` (the question's, the last, per query;
    earlier ones their best over queries), and `extra` (fact, question, meta, ...)."""
    selected = strategy.selected_positions()
    arrays = {
        "selected": np.array(selected).reshape(-1, 2),
        **{k: np.array(v) for k, v in extra.items()},
    }
    for c, per_query in enumerate(log):
        arrays[f"c{c}.starts"] = per_query["starts"]
        for key, s in per_query.items():
            if key != "starts":
                arrays[f"c{c}.{key[0]}.{key[1]}"] = s if c == len(log) - 1 else s.max(axis=0)
    return arrays


def probe(args) -> None:
    from rich.progress import track

    from hebbian.engine.consolidation.episodic import retrieval_heads
    from hebbian.io import provenance
    from hebbian.studies.tasks.needle import NeedleTask

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = NeedleTask(
        {
            "model": args.model,
            "corpus": "austen",
            "lengths": args.lengths,
            "depths": args.depths,
            "distractors": args.distractors,
        },
        seed=args.seed,
    )
    condition = {
        **CONDITION,
        "retrieval_heads": "all",
        "budget": args.budget,
        "min_bits": args.min_bits,
    }
    engine = task.engine(condition)
    strategy = engine.strategy
    voters = retrieval_heads(task.model[0], "auto", sorted(strategy.shapes))
    (out / "run.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "condition": condition,
                "voters": {str(k): v for k, v in voters.items()},
                "provenance": provenance.markdown(),
            },
            indent=1,
        )
    )
    for item in track(task.items(args.items), description="needle items"):
        path = out / f"{item.id}.npz"
        if path.exists():
            continue
        d = item.data
        engine = task.engine(condition)
        log: list = []
        recording(engine.strategy, voters, log)
        rendered = task.prompt(d, d["filler"], True)
        prompt = task.encode(rendered)
        first, value, last = task.fact_positions(rendered, d["statement"], d["answer"])
        distractors = [
            len(task.encode(rendered[: rendered.index(s)].rstrip(" "))) for _, s in d["distractors"]
        ]
        engine.feed(prompt[:-1])
        question = [
            len(task.encode(rendered[: rendered.rindex("Question:")])),
            len(task.encode(rendered[: rendered.rindex("<|im_end|>")])),
        ]
        arrays = record_arrays(
            engine.strategy,
            log,
            fact=[first, value, last],
            question=question,  # "Question: ... briefly." as positions
            distractor_starts=np.array(distractors, dtype=np.int64),
            meta=json.dumps({"length": d["length"], "depth": d["depth"], "tokens": len(prompt)}),
        )
        np.savez_compressed(path.with_suffix(".tmp.npz"), **arrays)
        path.with_suffix(".tmp.npz").rename(path)


def load(path: Path, block: int = BLOCK) -> dict:
    """One item's record: its choices (c -> {"starts": (N,), (layer, head): scores}), the fact's
    block index at the question's choice (None if no complete block holds the value), the blocks
    the engine read, and the item's cell."""
    z = np.load(path)
    choices: dict[int, dict] = {}
    for name in z.files:
        if name.startswith("c") and name[1].isdigit():
            c, *rest = name[1:].split(".")
            key = "starts" if rest == ["starts"] else (int(rest[0]), int(rest[1]))
            choices.setdefault(int(c), {})[key] = z[name]
    choices = {c: v for c, v in choices.items() if len(v) > 1}  # choices with blocks to score
    if not choices:
        raise ValueError(f"{path}: no choice had a complete block to score (a prompt too short)")
    question = choices[max(choices)]
    value = int(z["fact"][1])
    starts = question["starts"]
    holds = np.flatnonzero((starts <= value) & (value < starts + block))
    rivals = [np.flatnonzero((starts <= x) & (x < starts + block)) for x in z["distractor_starts"]]
    return {
        "choices": [choices[c] for c in sorted(choices)],
        "fact": int(holds[0]) if len(holds) else None,
        "distractors": [int(r[0]) for r in rivals if len(r)],  # their first tokens' blocks
        "selected": [tuple(x) for x in z["selected"].tolist()],
        "question": tuple(int(x) for x in z["question"]),
        "meta": json.loads(str(z["meta"])),
    }


def ranking(record: dict, heads, queries=slice(None), contrast=True) -> np.ndarray:
    """The question's block scores under a rule (episodic's: each head's best score over the
    `queries` kept (a slice, or "question": the question's own tokens), softmax over blocks,
    summed over `heads`; with contrast, the log ratio of that share to the mean share the
    earlier choices' votes gave each block, all relative to uniform)."""

    def relative(choice, last=False):
        votes = sum(softmax(choice[h][queries].max(axis=0) if last else choice[h]) for h in heads)
        return votes / len(heads) * len(votes)

    *earlier, question = record["choices"]
    if queries == "question":  # the kept queries are those of the prompt's last tokens but one
        kept = question[heads[0]].shape[0]
        start = record["meta"]["tokens"] - 1 - kept
        if record["question"][0] < start:
            raise ValueError("the question is longer than the kept queries: raise query_tokens")
        queries = slice(record["question"][0] - start, record["question"][1] - start)
    now = relative(question, last=True)
    if not contrast:
        return now
    sums: dict[int, list[float]] = {}
    for choice in earlier:
        for start, x in zip(choice["starts"], relative(choice)):
            sums.setdefault(int(start), []).append(float(x))
    usual = np.array([np.mean(sums.get(int(s), [1.0])) for s in question["starts"]])
    return np.log(now + 1e-9) - np.log(usual + 1e-9)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def read(score: np.ndarray, fact: int, k: int = 2, neighbours: int = 1) -> bool:
    """Whether the `k` best blocks, each with `neighbours` on either side, include `fact`."""
    best = np.argsort(-score, kind="stable")[:k]
    return bool(np.any(np.abs(best - fact) <= neighbours))


def engine_reads(
    record: dict, voters, k: int = 2, neighbours: int = 1, contrast: bool = True
) -> set[int]:
    """First positions of the blocks episodic's own rule reads at the question's choice."""
    best = np.argsort(-ranking(record, voters, contrast=contrast), kind="stable")[:k]
    starts = record["choices"][-1]["starts"]
    return {
        int(starts[j + d])
        for j in best
        for d in range(-neighbours, neighbours + 1)
        if 0 <= j + d < len(starts)
    }


def summarize(directory: str) -> str:
    out = Path(directory)
    run = json.loads((out / "run.json").read_text())
    voters = [(int(layer), h) for layer, hs in run["voters"].items() for h in hs]
    loaded = [load(p) for p in sorted(out.glob("needle-*.npz")) if ".tmp" not in p.name]
    records = [r for r in loaded if r["fact"] is not None]
    every = [k for k in loaded[0]["choices"][-1] if k != "starts"]
    low, high = min(layer for layer, _ in voters), max(layer for layer, _ in voters)
    band = [k for k in every if low <= k[0] <= high]
    rules = {
        "engine's rule (its 6 heads, contrast, 32 queries)": (voters, slice(None), True),
        "no contrast": (voters, slice(None), False),
        "last 16 queries": (voters, slice(-16, None), True),
        "the question's own queries (filler and template left out)": (voters, "question", True),
        "the question's own queries, no contrast": (voters, "question", False),
        f"every head of layers {low}-{high} (the engine's heads' band)": (band, slice(None), True),
        "every head": (every, slice(None), True),
    }
    lines = [
        f"{len(records)} of {len(loaded)} items have the fact's block in the store at the question",
        "",
        "| rule | fact's block read (2 best + neighbours) | by length | median rank of the fact's "
        "block | a distractor's block ranks above it (items with distractors) |",
        "|---|---|---|---|---|",
    ]
    lengths = sorted({r["meta"]["length"] for r in records})
    for name, (heads, queries, contrast) in rules.items():
        scores = [ranking(r, heads, queries, contrast) for r in records]
        hits = [read(s, r["fact"]) for s, r in zip(scores, records)]
        ranks = [int((s > s[r["fact"]]).sum()) for s, r in zip(scores, records)]
        by = ", ".join(
            f"{L}: {sum(h for h, r in zip(hits, records) if r['meta']['length'] == L)}/"
            f"{sum(r['meta']['length'] == L for r in records)}"
            for L in lengths
        )
        rivalled = [
            any(s[j] > s[r["fact"]] for j in r["distractors"])
            for s, r in zip(scores, records)
            if r["distractors"]
        ]
        lines.append(
            f"| {name} | {sum(hits)}/{len(hits)} | {by} | {np.median(ranks):.0f} "
            f"| {sum(rivalled)}/{len(rivalled)} |"
        )
    agree = sum(engine_reads(r, voters) == {lo for lo, _ in r["selected"]} for r in records)
    lines += [
        "",
        f"The engine's rule recomputed here reads what the engine read in {agree}/{len(records)} items.",
    ]
    hit1 = {
        h: np.mean([np.argmax(r["choices"][-1][h].max(axis=0)) == r["fact"] for r in records])
        for h in every
    }
    top = sorted(hit1, key=lambda h: -hit1[h])[:10]
    lines += [
        "",
        "Heads by hit@1 on these items (each alone, its best score over the 32 queries): "
        + ", ".join(f"{a}:{b} {hit1[(a, b)]:.2f}" for a, b in top)
        + "; the engine's: "
        + ", ".join(f"{a}:{b} {hit1[(a, b)]:.2f}" for a, b in voters),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="directory for the items' .npz")
    parser.add_argument(
        "--summarize", metavar="DIR", help="print the rules' table for a probe's directory"
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=7101, help="needle item seed (a tuning seed)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--depths", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7])
    parser.add_argument("--distractors", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument(
        "--budget", type=float, default=0.1, help="episodic's budget (0.1: its default; inf: none)"
    )
    parser.add_argument(
        "--min-bits", type=int, default=4, help="episodic's min_bits (4: its default)"
    )
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
    elif args.out:
        probe(args)
    else:
        parser.error("give --out DIR (run the probe) or --summarize DIR")


if __name__ == "__main__":
    main()
