"""HebbianEngine.stream with mlx-lm's samplers and logits processors."""

from mlx_lm.sample_utils import make_logits_processors, make_sampler

from hebbian.engine import EngineConfig, HebbianEngine


def test_stream_takes_mlx_lm_samplers_and_logits_processors(tiny):
    def reply(**sampling):
        engine = HebbianEngine(*tiny, EngineConfig(window=100, n_sink=2))
        return [r.token for r in engine.stream("hello there", 24, **sampling)]

    plain = reply()
    # greedy repeats itself
    assert any(plain[i] in plain[max(0, i - 20) : i] for i in range(len(plain)))
    penalised = reply(logits_processors=make_logits_processors(repetition_penalty=1e6))
    assert not any(penalised[i] in penalised[max(0, i - 19) : i] for i in range(len(penalised)))
    # top-p that keeps one token is greedy
    assert reply(sampler=make_sampler(1.0, top_p=1e-9)) == plain
