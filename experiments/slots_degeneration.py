"""Why do slots' recall replies degenerate (issue 20)? Replies, and the slots' share of the softmax.

    python experiments/slots_degeneration.py [--items 8] [--strengths 100 30 10 1 0.3]

On the recall task's tuning split (item seed 7, prereg/recall.yaml's task parameters), runs
window_only and slots at each strength (100 is recall.yaml's tuned pick; the rest is the same
config at a lower weight per evicted token). For each trial it prints the greedy reply (JSON-quoted),
its fluency, the answer's log-probability, and, at the reply's first position (the prompt's last
token, whose output picks the first reply token), the log-probability of ending the reply there
(<|im_end|>) and the share of each layer's attention mass that goes to the slots: exp(slots'
log-mass) / (window's mass + slots' mass), per query head, averaged over heads and layers.

Slots join the softmax with a bias of log(weight), a slot's weight being its tokens' importance
times the strength, so the strength moves every slot's bias by log(strength) and nothing else at
read time. The log-mass-bias hypothesis predicts that at strength 100 the slots take most of the
mass, and that the share and the degeneration fall together as the strength falls.
Measured by wrapping hebbian.engine.attention.attend, which the engine looks up at each call; the
engine itself is unchanged. Not a test of a hypothesis: a description on 8 tuning items.
"""

from __future__ import annotations

import argparse
import json
from importlib import import_module
from pathlib import Path

import mlx.core as mx
import numpy as np

from hebbian.io.provenance import git_revision
from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.prereg import load_prereg
from hebbian.studies.tasks.recall import RecallTask

PREREG = Path(__file__).parent.parent / "prereg" / "recall.yaml"
TUNING_SEED = 7
# the module: hebbian.engine's `attention` is its function
attention = import_module("hebbian.engine.attention")


class ShareProbe:
    """Wraps attention.attend: while ``on``, records each layer's mean slots share at the chunk's first query."""

    def __init__(self):
        self.on, self.shares, self._attend = False, [], attention.attend
        attention.attend = self.attend

    def attend(self, queries, keys, values, scale, mask, sinks, memory, weighed):
        if self.on and memory is not None:
            B, n_heads, L, D = queries.shape
            if sinks is not None:
                raise ValueError("the probe does not handle sink logits")
            n_kv, T = keys.shape[1], keys.shape[2]
            q = (queries * scale).reshape(B, n_kv, n_heads // n_kv, L, D)
            scores = (q @ mx.expand_dims(keys, 2).swapaxes(-1, -2)).astype(mx.float32)
            grouped = attention._grouped_mask(mask, L, T, n_kv)  # masked as the engine masks them
            if grouped is not None:
                scores = (
                    mx.where(grouped, scores, -mx.inf)
                    if grouped.dtype == mx.bool_
                    else scores + grouped
                )
            window = mx.logsumexp(scores, axis=-1).reshape(B, n_heads, L)
            slots = memory[1].astype(mx.float32).reshape(B, n_heads, L)
            # the chunk's first query
            self.shares.append(float(mx.sigmoid(slots - window)[:, :, 0].mean()))
        return self._attend(queries, keys, values, scale, mask, sinks, memory, weighed)


def first_position(task: RecallTask, item, config, probe: ShareProbe) -> tuple[list[float], float]:
    """(each layer's mean slots share, log-probability of <|im_end|>) at the reply's first position."""
    engine = task.engine(config)
    tokenizer = engine.tokenizer
    head, tail = task.prompt_parts(item, True)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": head + tail}], add_generation_prompt=True, tokenize=False
    )
    prompt = tokenizer.encode(rendered, add_special_tokens=False)
    engine.feed(prompt[:-1])
    probe.on, probe.shares = True, []
    try:
        end = engine.score(prompt[-1:], [tokenizer.eos_token_id])[0]
    finally:
        probe.on = False
    return probe.shares or [0.0] * len(engine.model.layers), end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--strengths", type=float, nargs="+", default=[100.0, 30.0, 10.0, 1.0, 0.3])
    args = parser.parse_args()
    study = load_prereg(PREREG)
    task = RecallTask(study.task_params, TUNING_SEED)
    window, slots = study.condition("window_only").config, study.condition("slots").config
    conditions = {
        "window_only": window,
        **{f"slots_{s:g}": {**slots, "strength": s} for s in args.strengths},
    }
    print(f"git revision: {git_revision()}", flush=True)
    probe = ShareProbe()
    rows = {name: [] for name in conditions}
    for item in task.items(args.items):
        for name, config in conditions.items():
            engine, replies = task.engine(config), []
            generate = engine.generate

            def recorded(*a, replies=replies, generate=generate, **k):
                replies.append(generate(*a, **k))
                return replies[-1]

            engine.generate = recorded
            out = task.run_trial(item, config, 0)
            engine.generate = generate
            layers, end = first_position(task, item, config, probe)
            share = float(np.mean(layers))
            rows[name].append(
                {**out, "share": share, "layers": layers, "end": end, "reply": replies[0]}
            )
            print(
                json.dumps(
                    {
                        "item": item.id,
                        "answer": item.data["answer"],
                        "condition": name,
                        "reply": replies[0],
                        **{k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()},
                        "slots_share": round(share, 4),
                        "logprob_end_first": round(end, 3),
                    }
                ),
                flush=True,
            )
    print(
        "\n| condition | degenerate | correct | mean answer log-prob | mean slots share | "
        "mean log P(<|im_end|> first) | mean rep-4 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        n = len(r)

        def mean(key, r=r):
            return np.mean([x[key] for x in r])

        print(
            f"| `{name}` | {sum(x['degenerate'] for x in r)}/{n} | {sum(x['correct'] for x in r)}/{n} | "
            f"{mean('logprob'):.2f} | {mean('share'):.3f} | {mean('end'):.2f} | {mean('rep4'):.3f} |"
        )
    print("\nMean slots share by layer (first to last):")
    for name, r in rows.items():
        print(
            f"- `{name}`: "
            + " ".join(f"{x:.2f}" for x in np.mean([x["layers"] for x in r], axis=0))
        )
    assert all(
        fluency_outcomes(x["reply"])["degenerate"] == x["degenerate"]
        for r in rows.values()
        for x in r
    )


if __name__ == "__main__":
    main()
