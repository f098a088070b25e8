"""exp for the engine's softmaxes, as 2 ** (x * log2(e)) on a CPU.

On a CPU, mlx's elementwise exp (and the softmax and logsumexp built on it) takes about 12 ns an
element here, against 4.4 ns for its power (numpy's exp is faster than either), while an
addition takes 0.25 ns: the exponentials of a decoding step's attention scores (query heads x
cached tokens x layers, some 280,000 for the default model at 1k tokens of context) cost more
than the score and value products together. 2 ** (x * log2(e)) computes the same function at the same float32
precision (relative error a few 1e-6, as mx.exp's own against float64) in a third of the time.
Elsewhere (Metal) mx.exp is kept. `python experiments/exp_timing.py` measures both.
"""

from __future__ import annotations

import math

import mlx.core as mx

LOG2_E = 1 / math.log(2)


def exp(x: mx.array) -> mx.array:
    """e ** x, elementwise (see the module docstring for why not always mx.exp)."""
    if mx.default_device() == mx.cpu:
        return mx.power(2.0, x * LOG2_E)
    return mx.exp(x)
