"""`hebbian bench runtime`: the BLAS fix and the model loader, measured in one run.

Prints MLX float32 matmul GFLOP/s with the fix (this process) and without it (a child
process with the preload removed), numpy's, and the model's prefill/decode tokens/s
through our GGUF loader against the same weights exported to an mlx-lm directory and
loaded the plain mlx-lm way. Ratios are taken within this one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import deque

from rich.console import Console
from rich.table import Table

from . import runtime

MATMUL_TARGET = 0.8  # MLX vs numpy GFLOP/s
DECODE_TARGET, PREFILL_TARGET = 9.0, 150.0  # tokens/s for the default model on 2 cores


def mlx_gflops_without_fix() -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", runtime.REEXEC_FLAG)}
    env[runtime.OPT_OUT] = "1"
    code = "from hebbian.runtime import matmul_gflops; print(matmul_gflops('mlx'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def real_prompt(tokenizer, n_tokens: int) -> list[int]:
    """The first n_tokens of Pride and Prejudice (real prose), or of a repeated sentence."""
    from . import corpus

    try:
        text = corpus.load("austen/prideprejudice")
    except FileNotFoundError:
        text = "The quick brown fox jumps over the lazy dog. " * n_tokens
    tokens = tokenizer.encode(text[: n_tokens * 8])
    return tokens[:n_tokens]


def generation_speed(
    model, tokenizer, prompt: list[int], decode_tokens: int
) -> tuple[float, float, float]:
    """(prefill tokens/s, decode tokens/s, peak GB) of one greedy generation, after a warm-up."""
    from mlx_lm import stream_generate

    for _ in stream_generate(model, tokenizer, prompt[:16], max_tokens=4):
        pass
    last = deque(stream_generate(model, tokenizer, prompt, max_tokens=decode_tokens), maxlen=1)[0]
    return last.prompt_tps, last.generation_tps, last.peak_memory


def run_runtime_bench(console: Console, spec: str, prompt_tokens: int, decode_tokens: int) -> None:
    from mlx_lm.utils import load as mlx_lm_load

    from .io.loading import load_model
    from .models.export import export_mlx_dir

    with console.status("matmul ..."):
        fixed, numpy_gf = runtime.matmul_gflops("mlx"), runtime.matmul_gflops("numpy")
        stock = mlx_gflops_without_fix() if sys.platform == "linux" else float("nan")
    table = Table(
        "float32 matmul 1024^2", "GFLOP/s", "vs numpy", title=f"BLAS: {runtime.blas_in_use()}"
    )
    table.add_row("MLX, stock wheel BLAS", f"{stock:.1f}", f"{stock / numpy_gf:.2f}x")
    table.add_row("MLX, with the BLAS fix", f"{fixed:.1f}", f"{fixed / numpy_gf:.2f}x")
    table.add_row("numpy", f"{numpy_gf:.1f}", "1.00x")
    console.print(table)
    verdict = "meets" if fixed >= MATMUL_TARGET * numpy_gf else "misses"
    console.print(f"MLX with the fix {verdict} the target of {MATMUL_TARGET}x numpy.")

    model, tokenizer = load_model(spec)
    prompt = real_prompt(tokenizer, prompt_tokens)
    rows = []
    with console.status("our loader: generating ..."):
        rows.append(
            (
                "hebbian.models.load (GGUF)",
                *generation_speed(model, tokenizer, prompt, decode_tokens),
            )
        )
    with tempfile.TemporaryDirectory() as tmp, console.status("plain mlx-lm: generating ..."):
        export_mlx_dir(model, tokenizer, tmp)
        del model
        plain, plain_tok = mlx_lm_load(tmp)
        rows.append(
            (
                "mlx_lm.load (exported float32 dir)",
                *generation_speed(plain, plain_tok, prompt, decode_tokens),
            )
        )
    table = Table(
        "model path",
        "prefill tok/s",
        "decode tok/s",
        "peak GB",
        title=f"{spec}: {len(prompt)}-token prompt, {decode_tokens} tokens decoded, {runtime.backend()}",
    )
    for name, prefill, decode, peak in rows:
        table.add_row(name, f"{prefill:.1f}", f"{decode:.1f}", f"{peak:.2f}")
    console.print(table)
    ours, theirs = rows
    console.print(
        f"ours / plain mlx-lm: prefill {ours[1] / theirs[1]:.2f}x, decode {ours[2] / theirs[2]:.2f}x. "
        f"Targets on 2 CPU cores: decode >= {DECODE_TARGET}, prefill >= {PREFILL_TARGET} tokens/s."
    )
