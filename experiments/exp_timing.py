"""Why the engine's softmaxes use fastexp.exp on a CPU: elementwise exp against its alternatives.

    python -m hebbian.runtime python experiments/exp_timing.py

Times, in one run, mx.exp, mx.softmax, fastexp.exp (2 ** (x log2 e)), numpy's exp and an
addition over the same 3.3 million float32 values (30 arrays of 192 x 576, in softmax's range
after its maximum is subtracted), and prints each one's largest relative error against float64.
"""

from __future__ import annotations

import statistics
import time

import mlx.core as mx
import numpy as np

from hebbian.engine.fastexp import exp


def main() -> None:
    arrays = [mx.random.uniform(-80, 0, (192, 576), key=mx.random.key(i)) for i in range(30)]
    mx.eval(arrays)
    exact = [np.exp(np.array(x, dtype=np.float64)) for x in arrays]
    contenders = {
        "mx.exp": mx.exp,
        "fastexp.exp": mx.compile(exp),
        "mx.softmax (whole row)": lambda x: mx.softmax(x, axis=-1),
        "numpy exp": lambda x: np.exp(np.array(x, copy=False)),
        "x + 1 (for scale)": lambda x: x + 1,
    }
    print(
        f"{sum(x.size for x in arrays):,} float32 values; ms (median of 20) and largest relative error"
    )
    for name, f in contenders.items():

        def run(f=f):
            mx.eval([mx.array(y) if isinstance(y, np.ndarray) else y for y in map(f, arrays)])

        run()
        times = []
        for _ in range(20):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        error = "-"
        if "exp" in name:
            error = f"{max(np.abs(np.array(f(x), dtype=np.float64) / e - 1).max() for x, e in zip(arrays, exact)):.1e}"
        print(f"{name:24s} {statistics.median(times) * 1e3:7.2f} ms   {error}")


if __name__ == "__main__":
    main()
