"""`hebbian bench engine`: the engine's speed and memory against plain mlx-lm, in one run.

Same model, same prompt (real prose): prefill and decode tokens/s and peak memory for mlx-lm
with a full KVCache, mlx-lm with a RotatingKVCache of the engine's capacity, and the engine in
every mode, at a short context and optionally a long one. Each contender runs `repeats` times,
interleaved with the others, and keeps its best figures, which damps the noise of shared cores.
The targets are printed against the figures, met or missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import mlx.core as mx
from mlx_lm.generate import GenerationResponse, stream_generate
from mlx_lm.models.cache import KVCache, RotatingKVCache
from rich.console import Console
from rich.table import Table

from .. import runtime
from ..bench import real_prompt
from .config import MODES, EngineConfig
from .engine import HebbianEngine

DECODE_VS_ROTATING = 0.9  # every mode's decode against mlx-lm's at the same window
LONG_SPEEDUP = 1.5  # the engine's decode against mlx-lm's full cache at the long context
MEMORY_GROWTH = 1.1  # the engine's peak memory at the long context against the short one
FULL, ROTATING = "mlx-lm full", "mlx-lm rotating"  # KVCache; RotatingKVCache of the same capacity


@dataclass
class Figures:
    prefill: float = 0.0  # tokens/s
    decode: float = 0.0  # tokens/s
    peak: float = 0.0  # GB

    def best(self, other: Figures) -> Figures:
        return Figures(max(self.prefill, other.prefill), max(self.decode, other.decode),
                       min(self.peak, other.peak) if self.peak else other.peak)


def measure(run: Callable[[], Iterator[GenerationResponse]]) -> Figures:
    mx.clear_cache()
    mx.reset_peak_memory()
    last = None
    for last in run():
        pass
    return Figures(last.prompt_tps, last.generation_tps, mx.get_peak_memory() / 1e9)


def contenders(model, tokenizer, config: EngineConfig, decode: int) -> dict[str, Callable]:
    """Name -> a function starting one generation of `decode` tokens after a prompt."""
    def plain(make_cache):
        return lambda prompt: stream_generate(model, tokenizer, mx.array(prompt), max_tokens=decode,
                                       prompt_cache=[make_cache() for _ in model.layers],
                                       prefill_step_size=config.prefill_chunk)

    def engine(mode):
        # One engine per mode, as a chat keeps one: its compiled steps are traced once (in the
        # warm-up), not inside every measurement. It is reset after each run, so that the engines
        # waiting their turn hold only their empty state while another one's peak is measured.
        ours = HebbianEngine(model, tokenizer, replace(config, mode=mode))

        def run(prompt):
            try:
                yield from ours.stream(prompt, max_tokens=decode)
            finally:
                ours.reset()

        return run

    return {
        FULL: plain(KVCache),
        ROTATING: plain(lambda: RotatingKVCache(max_size=config.capacity, keep=config.n_sink)),
        **{f"engine {mode}": engine(mode) for mode in MODES},
    }


def run_round(runs: dict[str, Callable], config, prompt, repeats, progress, warm_up: bool) -> dict[str, Figures]:
    if warm_up:  # first calls, allocations, compiled steps (their shapes are bounded by the capacity)
        for name, run in runs.items():
            progress(f"{len(prompt)} tokens of context, warm-up: {name}")
            # decoding is steady (compiled) from the first hand-over on, at the latest
            for _ in zip(range(config.hand_over + 2), run(prompt)):
                pass
    figures = {name: Figures() for name in runs}
    for r in range(repeats):
        for name, run in runs.items():
            progress(f"{len(prompt)} tokens of context, run {r + 1}/{repeats}: {name}")
            figures[name] = figures[name].best(measure(lambda: run(prompt)))
    return figures


def verdict(ok: bool) -> str:
    return "[green]meets[/]" if ok else "[bold red]MISSES[/]"


def run_engine_bench(console: Console, model, tokenizer, config: EngineConfig, contexts: list[int],
                     decode: int, repeats: int) -> dict[int, dict[str, Figures]]:
    results, runs = {}, contenders(model, tokenizer, config, decode)
    with console.status("") as status:
        for n in contexts:
            prompt = real_prompt(tokenizer, n)
            results[n] = run_round(runs, config, prompt, repeats, status.update, warm_up=n == contexts[0])
    for n, figures in results.items():
        rotating = figures[ROTATING].decode
        table = Table("", "prefill tok/s", "decode tok/s", "vs rotating", "peak GB",
                      title=f"{n}-token context, {decode} tokens decoded, capacity {config.capacity} "
                            f"({config.n_sink} sinks), {runtime.backend()}, best of {repeats}\n"
                            "mlx-lm full: KVCache; rotating: RotatingKVCache of the same capacity")
        for name, f in figures.items():
            table.add_row(name, f"{f.prefill:.1f}", f"{f.decode:.2f}", f"{f.decode / rotating:.2f}x", f"{f.peak:.3f}")
        console.print(table)
    short, long = contexts[0], contexts[-1]
    ours = [name for name in results[short] if name.startswith("engine")]
    for name in ours:
        ratio = results[short][name].decode / results[short][ROTATING].decode
        console.print(f"{name}: decode {ratio:.2f}x mlx-lm's rotating cache at {short} tokens "
                      f"({verdict(ratio >= DECODE_VS_ROTATING)} >= {DECODE_VS_ROTATING}x)", highlight=False)
    if long != short:
        for name in ours:
            speedup = results[long][name].decode / results[long][FULL].decode
            growth = results[long][name].peak / results[short][name].peak
            console.print(f"{name} at {long} tokens: decode {speedup:.2f}x mlx-lm's full cache "
                          f"({verdict(speedup >= LONG_SPEEDUP)} >= {LONG_SPEEDUP}x); peak memory {growth:.3f}x "
                          f"that at {short} ({verdict(growth <= MEMORY_GROWTH)} <= {MEMORY_GROWTH}x)", highlight=False)
    return results
