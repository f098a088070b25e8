"""Where a decoding step's time goes: building its graph (Python) and evaluating it, per mode.

    python -m hebbian.runtime python experiments/engine_step_profile.py off rank1 memory rank1:noside memory:noread

Each contender decodes at 1k tokens of context (window full, so every step is steady) in
blocks of --steps tokens, alternating with mlx-lm's RotatingKVCache block by block, so that the
machine's drift falls on both alike. Steps run synchronously (build, then evaluate), not
pipelined as in generation, so that the two can be told apart; the hand-over steps (every
hand_over tokens: evicted tokens un-rotated and consolidated) are reported apart from the
others. A contender is a mode, optionally with parts switched off to price them:
`:noside` (the fast weights' K/V side path), `:noread` (the memory or slots read-out),
`:nocons` (consolidation; the hand-over still happens), or `:eager` (every step built op by op,
as before steady steps were compiled whole, compiled.py). Switched-off parts change the
outputs: these variants are for pricing only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from dataclasses import replace

import mlx.core as mx
from mlx_lm.models.cache import RotatingKVCache

from hebbian.bench import real_prompt
from hebbian.engine import EngineConfig, HebbianEngine, patched
from hebbian.models import load

ROTATING = "rotating"


def contender(model, tokenizer, name: str, prompt: list[int]):
    """(forward, caches, what to run around them, hand-over interval or None) for a contender's name."""
    if name == ROTATING:
        caches = [
            RotatingKVCache(max_size=EngineConfig().capacity, keep=EngineConfig().n_sink)
            for _ in model.layers
        ]
        mx.eval(model(mx.array([prompt]), cache=caches))
        return model, caches, nullcontext, None
    mode, *off = name.split(":")
    engine = HebbianEngine(model, tokenizer, replace(EngineConfig(), mode=mode))
    engine.feed(prompt)
    strategy = engine.strategy
    if "noside" in off:
        strategy.side = lambda layer, target, x, y: y
    if "noread" in off:
        strategy.memory_state = lambda layer: None
    if "nocons" in off:
        strategy.consolidate = lambda layer, batch: None
    forward = model if "eager" in off else engine.decoder
    return forward, engine.cache, lambda: patched(model, strategy), engine.config.hand_over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contenders", nargs="+", help="mode[:noside][:noread][:nocons][:eager]")
    parser.add_argument("--steps", type=int, default=16, help="tokens per block")
    parser.add_argument("--blocks", type=int, default=6, help="blocks per contender")
    args = parser.parse_args()
    model, tokenizer = load("default")
    prompt = real_prompt(tokenizer, 1088)
    tokens = [mx.array([[t]]) for t in real_prompt(tokenizer, args.steps)]
    runs = {
        name: contender(model, tokenizer, name, prompt) for name in [ROTATING, *args.contenders]
    }
    # name -> (other steps, hand-over steps): (build, eval) each
    times = {name: ([], []) for name in runs}

    def block(name: str, record: bool) -> None:
        forward, caches, around, hand_over = runs[name]
        with around():
            for token in tokens:
                handing_over = hand_over is not None and caches[0].pending == hand_over - 1
                start = time.perf_counter()
                out = forward(token, cache=caches)
                built = time.perf_counter()
                mx.eval(out)
                if record:
                    times[name][handing_over].append((built - start, time.perf_counter() - built))

    for name in runs:
        block(name, record=False)  # warm-up: compiled steps traced
    for _ in range(args.blocks):
        for name in args.contenders:
            block(ROTATING, record=True)
            block(name, record=True)
    print(
        f"ms per step, median over {args.blocks} blocks of {args.steps} steps, 1088 tokens of context"
    )
    print("| contender | steps | build | evaluate | hand-over steps | build | evaluate |")
    print("|---|---|---|---|---|---|---|")
    for name, (plain, handing) in times.items():
        cells = [
            f"{len(plain)}",
            *(f"{statistics.median(x[i] for x in plain) * 1e3:.1f}" for i in (0, 1)),
        ]
        cells += [
            f"{len(handing)}",
            *(
                f"{statistics.median(x[i] for x in handing) * 1e3:.1f}" if handing else "-"
                for i in (0, 1)
            ),
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
