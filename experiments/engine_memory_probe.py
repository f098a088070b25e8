"""Peak memory of one generation against context length, for mlx-lm's caches and each engine mode.

    python -m hebbian.runtime python experiments/engine_memory_probe.py 1024 2048 4096

`hebbian bench engine` compares peak memory at 1k and 8k tokens of context. With the default
window (1020 + 4 sinks) nothing is evicted at 1k, so that ratio mixes growth with context and the
one-off cost of the first eviction (a 512-token prefill chunk attending to a full cache, and the
first hand-over to the consolidator). This probe prints the peak (GB) at each context given, so
that the two can be told apart. It runs the bench's own contenders; peak memory does not depend
on how loaded the CPU is.
"""

from __future__ import annotations

import sys
from functools import partial

from hebbian.bench import real_prompt
from hebbian.engine import EngineConfig
from hebbian.engine.bench import contenders, engines, measure
from hebbian.models import load


def main() -> None:
    contexts = [int(x) for x in sys.argv[1:]] or [1024, 2048, 4096]
    model, tokenizer = load("default")
    config = EngineConfig()
    peaks, runs = (
        {},
        contenders(model, tokenizer, config, decode=2, ours=engines(model, tokenizer, config)),
    )
    for n in contexts:
        prompt = real_prompt(tokenizer, n)
        for name, run in runs.items():
            peaks.setdefault(name, []).append(measure(partial(run, prompt)).peak)
    print("| contender | " + " | ".join(f"{n} tokens" for n in contexts) + " |")
    print("|---|" + "---|" * len(contexts))
    for name, row in peaks.items():
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in row) + " |")


if __name__ == "__main__":
    main()
