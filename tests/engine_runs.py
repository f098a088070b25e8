"""One reply decoded with steady steps compiled whole or op by op, and the check that two such
replies agree in everything the engine keeps (tests/engine/test_engine_compiled.py and every
mode's own tests use them)."""

from dataclasses import asdict

import numpy as np
import pytest

from hebbian.engine import HebbianCache, HebbianEngine

PROMPT = list(range(3, 43))  # longer than the window: decoding is steady from its first token


def generate(
    model, tokenizer, config, compiled: bool, tokens: int = 40, prompt=PROMPT, engine=None
):
    """(tokens, log-probabilities of each step, engine) of one reply."""
    engine = engine or HebbianEngine(model, tokenizer, config)
    if not compiled:
        engine.decoder = model  # every step built op by op
    replies = list(engine.stream(prompt, max_tokens=tokens))
    return [r.token for r in replies], np.stack([np.array(r.logprobs) for r in replies]), engine


def assert_same(a: tuple, b: tuple) -> None:
    """Two generate() results: the same tokens, log-probabilities, caches and strategy state."""
    assert a[0] == b[0]
    np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=1e-4)
    a, b = a[2], b[2]
    da, db = a.diagnostics(), b.diagnostics()
    assert da.pop("mode") == db.pop("mode") and da == pytest.approx(db, rel=1e-5)
    for x, y in zip(a.cache, b.cache, strict=True):
        if isinstance(x, HebbianCache):
            assert (x.seen, x.evicted, x.offset, x.base, x.timeline.head_at) == (
                y.seen,
                y.evicted,
                y.offset,
                y.base,
                y.timeline.head_at,
            )
            assert asdict(x.layout) == asdict(y.layout)
        for u, v in zip(x.state, y.state, strict=True):
            np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-5)
    for u, v in zip(a._strategy_arrays(), b._strategy_arrays(), strict=True):
        np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-5, atol=1e-5)
