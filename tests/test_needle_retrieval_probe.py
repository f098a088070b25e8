"""experiments/needle_retrieval_probe.py: recording every head leaves what episodic reads as it
was, and the offline rule recomputed from the saved scores reads what the engine read."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from hebbian.engine import EngineConfig, HebbianEngine

SCRIPT = Path(__file__).parent.parent / "experiments" / "needle_retrieval_probe.py"
spec = importlib.util.spec_from_file_location("needle_retrieval_probe", SCRIPT)
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)

BLOCK = 4
CONFIG = dict(
    window=16,
    n_sink=2,
    mode="episodic",
    block=BLOCK,
    budget=float("inf"),
    prefill_chunk=8,
    query_tokens=4,
    blocks_read=2,
    neighbours=1,
)


@pytest.mark.parametrize("contrast", [True, False])
def test_recorded_scores_reproduce_the_engines_choice(tiny, tmp_path, contrast):
    prompt = np.random.default_rng(3).integers(3, 250, 90).tolist()
    voters = {1: [0]}
    plain = HebbianEngine(*tiny, EngineConfig(**CONFIG, contrast=contrast, retrieval_heads="1:0"))
    plain.feed(prompt)
    recorded = HebbianEngine(
        *tiny, EngineConfig(**CONFIG, contrast=contrast, retrieval_heads="all")
    )
    log: list = []
    probe.recording(recorded.strategy, voters, log)
    recorded.feed(prompt)

    read = recorded.strategy.selected_positions()
    assert read == plain.strategy.selected_positions() and read
    assert len(log) > 2 and {(0, 0), (0, 1), (1, 0), (1, 1)} <= set(log[-1])
    arrays = probe.record_arrays(
        recorded.strategy,
        log,
        fact=[20, 22, 23],
        question=[len(prompt) - 4, len(prompt)],
        distractor_starts=[51],
        meta=json.dumps({"length": 90, "depth": 0.2, "tokens": len(prompt) + 1}),
    )
    np.savez(tmp_path / "item.npz", **arrays)
    record = probe.load(tmp_path / "item.npz", block=BLOCK)

    # blocks start after the 2 sinks (2, 6, ..., 22, ..., 50): the value's at 22, a rival's at 50
    starts = record["choices"][-1]["starts"]
    assert starts[record["fact"]] == 22 and [starts[j] for j in record["distractors"]] == [50]
    heads = [(1, 0)]
    assert probe.engine_reads(record, heads, contrast=contrast) == {lo for lo, _ in read}
    # a rule the engine did not use can read otherwise: the check is not vacuous
    other = [(0, 0), (0, 1)]
    rankings = [probe.ranking(record, h, contrast=contrast) for h in (heads, other)]
    assert not np.allclose(*rankings)
