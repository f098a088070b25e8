"""Peak memory of one generation against context length, for mlx-lm's caches and each engine mode.

    python -m hebbian.runtime python experiments/engine_memory_probe.py 1024 2048 4096

`hebbian bench engine` compares peak memory at 1k and 8k tokens of context. With the default
window (1020 + 4 sinks) nothing is evicted at 1k, so that ratio mixes growth with context and the
one-off cost of the first eviction (a 512-token prefill chunk attending to a full cache, and the
first hand-over to the consolidator). This probe prints the peak (GB) at each context given, so
that the two can be told apart. Peak memory does not depend on how loaded the CPU is.
"""

from __future__ import annotations

import sys

import mlx.core as mx
from mlx_lm.generate import stream_generate
from mlx_lm.models.cache import KVCache, RotatingKVCache

from hebbian.bench import real_prompt
from hebbian.engine import EngineConfig, HebbianEngine
from hebbian.engine.config import MODES
from hebbian.models import load


def peak(run) -> float:
    mx.clear_cache()
    mx.reset_peak_memory()
    for _ in run():
        pass
    return mx.get_peak_memory() / 1e9


def main() -> None:
    contexts = [int(x) for x in sys.argv[1:]] or [1024, 2048, 4096]
    model, tokenizer = load("default")
    config = EngineConfig()
    plain = {"mlx-lm full": KVCache, "mlx-lm rotating": lambda: RotatingKVCache(max_size=config.capacity,
                                                                                keep=config.n_sink)}
    print("| contender | " + " | ".join(f"{n} tokens" for n in contexts) + " |")
    print("|---|" + "---|" * len(contexts))
    for name in [*plain, *(f"engine {m}" for m in MODES)]:
        row = []
        for n in contexts:
            prompt = mx.array(real_prompt(tokenizer, n))
            if name in plain:
                make = plain[name]
                row.append(peak(lambda: stream_generate(model, tokenizer, prompt, max_tokens=2,
                                                        prompt_cache=[make() for _ in model.layers],
                                                        prefill_step_size=config.prefill_chunk)))
            else:
                engine = HebbianEngine(model, tokenizer, EngineConfig(mode=name.split()[1]))
                row.append(peak(lambda: engine.stream(prompt.tolist(), max_tokens=2)))
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in row) + " |", flush=True)


if __name__ == "__main__":
    main()
