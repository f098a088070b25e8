"""Can the model use a block read back at fewer bits? Episodic recall with every block stored at
one precision, keys and values each at their own bits (a probe on a tuning split, not a study).

Every block the store completes is requantized at once to `--keys` and `--values` bits (16:
exact; 8 and 4: mx.quantize per token, float32 scales; 3 and 2: KIVI's layout, keys per channel,
float16 scales), whatever the budget, then experiments/episodic_probe.py's trials run as usual
(the recall task's items of the tuning seed 7, window 128 + 4 sinks: every fact is evicted, and
episodic's own choice finds the fact's block in most). The store's code has one precision per
block; this probe stands in for a key/value split by patching episodic's pack and unpack for one
made-up level, so that what it measures can be known before the store is changed for it.

    python experiments/bits_probe.py --keys 3 --values 2 [n] [condition=key:value,...] > probe.jsonl
    python experiments/episodic_probe.py --summarize probe.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mlx.core as mx

from hebbian.engine.consolidation import episodic

sys.path.insert(0, str(Path(__file__).parent))
import episodic_probe  # noqa: E402

SPLIT = 1  # the made-up level a block is marked with once its keys and values are requantized
exact_pack, exact_unpack, exact_key_bits = episodic.pack, episodic.unpack, episodic.key_bits


def patch(key_bits: int, value_bits: int) -> None:
    """Route episodic's level SPLIT to key_bits for keys and value_bits for values, and requantize
    every completed block to it as soon as it is complete."""

    def pack(x, bits, keys=False):
        return exact_pack(x, (key_bits if keys else value_bits) if bits == SPLIT else bits, keys)

    def unpack(stored, bits, dtype, keys=False):
        real = (key_bits if keys else value_bits) if bits == SPLIT else bits
        return exact_unpack(stored, real, dtype, keys)

    def keys_of(bits):  # a SPLIT block's keys are marked SPLIT too, so pack and unpack route them
        return SPLIT if bits == SPLIT else exact_key_bits(bits)

    def fit(self):
        for block in self.complete():
            if block.bits != SPLIT:
                self._requantize(block, SPLIT)

    episodic.pack, episodic.unpack, episodic.key_bits = pack, unpack, keys_of
    episodic.Episodic._fit = fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, required=True, choices=(2, 3, 4, 8, 16))
    parser.add_argument("--values", type=int, required=True, choices=(2, 3, 4, 8, 16))
    args, rest = parser.parse_known_args()
    patch(args.keys, args.values)
    mx.random.seed(0)
    sys.argv = [sys.argv[0], *rest]
    episodic_probe.main()


if __name__ == "__main__":
    main()
