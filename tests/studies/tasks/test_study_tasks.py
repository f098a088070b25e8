"""The recall and perplexity tasks on the real default model: what a windowed condition scores
really lies beyond its window, and a configuration that would let it see back is refused."""

import mlx.core as mx
import numpy as np
import pytest

from hebbian.studies.fluency import fluency_outcomes
from hebbian.studies.tasks.continuation import ContinuationTask
from hebbian.studies.tasks.perplexity import PerplexityTask
from hebbian.studies.tasks.recall import RecallTask
from hebbian.studies.tasks.recall_items import answer_token

FULL = {"window": 4096, "n_sink": 4, "mode": "off", "prefill_chunk": 16}
WINDOW = {"window": 24, "n_sink": 4, "mode": "off", "prefill_chunk": 16}  # a token sees <= 43 back


@pytest.fixture(scope="module")
def perplexity_task(default_model):
    task = PerplexityTask(
        {"model": "default", "corpus": "austen/emma", "segment_tokens": 96, "skip_tokens": 48},
        seed=3,
    )
    task.__dict__["model"] = default_model  # the session's copy, not a second load
    return task


def test_full_cache_nll_is_plain_mlx_lm_nll_beyond_skip(perplexity_task, default_model):
    item = perplexity_task.items(1)[0]
    segment = perplexity_task.tokens[item.data["start"] : item.data["start"] + 96]
    logits = default_model[0](mx.array(segment)[None])[0].astype(mx.float32)
    logprobs = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
    # 47 tokens: halves of 23 and 24
    token_nll = [-logprobs[i, segment[i + 1]] for i in range(48, 95)]
    out = perplexity_task.run_trial(item, FULL, 0)
    assert out["nll"] == pytest.approx(np.mean(token_nll), abs=2e-3)
    assert out["nll_early"] == pytest.approx(np.mean(token_nll[:23]), abs=2e-3)
    assert out["nll_late"] == pytest.approx(np.mean(token_nll[23:]), abs=2e-3)


def test_a_window_and_a_consolidating_memory_each_change_the_nll(perplexity_task):
    item = perplexity_task.items(1)[0]
    full, window = (perplexity_task.run_trial(item, c, 0)["nll"] for c in (FULL, WINDOW))
    memory = perplexity_task.run_trial(item, {**WINDOW, "mode": "memory"}, 0)["nll"]
    assert abs(window - full) > 1e-3 and abs(memory - window) > 1e-4


def test_perplexity_refuses_a_chunk_that_reaches_behind_the_window(perplexity_task):
    with pytest.raises(ValueError, match="skip_tokens=48 is below the window"):
        perplexity_task.run_trial(perplexity_task.items(1)[0], {**WINDOW, "prefill_chunk": 64}, 0)


def test_recall_refuses_a_chunk_that_lets_the_question_see_the_fact(default_model):
    task = RecallTask(
        {"model": "default", "corpus": "austen", "filler_chars": 300, "max_tokens": 4}, seed=5
    )
    task.__dict__["model"] = default_model
    with pytest.raises(ValueError, match="could still see it"):
        task.run_trial(
            task.items(1)[0], {"window": 16, "n_sink": 4, "mode": "off", "prefill_chunk": 512}, 0
        )


def test_recall_records_the_fluency_of_the_reply_it_generated(default_model):
    task = RecallTask(
        {"model": "default", "corpus": "austen", "filler_chars": 300, "max_tokens": 12}, seed=5
    )
    task.__dict__["model"] = default_model
    config = {"window": 4096, "n_sink": 4, "mode": "off", "prefill_chunk": 32}
    engine, replies = task.engine(config), []  # the engine run_trial will take for this config
    generate = engine.generate

    def recorded(*args, **kwargs):
        replies.append(generate(*args, **kwargs))
        return replies[-1]

    engine.generate = recorded
    out = task.run_trial(task.items(1)[0], config, 0)
    assert len(replies) == 1
    assert out == {**out, **fluency_outcomes(replies[0]), "reply": replies[0]}


def test_continuation_generates_after_the_whole_segment_and_scores_that_reply(
    default_model, perplexity_task
):
    task = ContinuationTask(
        {"model": "default", "corpus": "austen/emma", "segment_tokens": 96, "max_tokens": 8}, seed=3
    )
    task.__dict__["model"] = default_model
    item = task.items(1)[0]
    # the same segments as the perplexity task with the same seed
    assert item == perplexity_task.items(1)[0]
    engine, seen = task.engine(WINDOW), []
    generate = engine.generate

    def recorded(prompt, **kwargs):
        seen.append((engine.diagnostics(), list(prompt), generate(prompt, **kwargs)))
        return seen[-1][2]

    engine.generate = recorded
    out = task.run_trial(item, WINDOW, 0)
    ((state, prompt, reply),) = seen
    segment = task.tokens[item.data["start"] : item.data["start"] + 96]
    assert state["tokens_seen"] == 95 and state["evicted"] > 0 and prompt == segment[-1:]
    assert out == {**fluency_outcomes(reply), "reply": reply} and reply.strip()


def test_the_generation_prereg_continues_the_perplexity_studys_segments_under_its_conditions():
    from pathlib import Path

    from hebbian.studies.prereg import load_prereg

    prereg = Path(__file__).resolve().parents[3] / "prereg"
    generation, perplexity = (
        load_prereg(prereg / "perplexity-generation.yaml"),
        load_prereg(prereg / "perplexity.yaml"),
    )
    assert generation.conditions == perplexity.conditions
    assert (
        generation.item_seed == perplexity.item_seed
        and generation.planned_n == perplexity.planned_n
    )
    shared = ("model", "corpus", "segment_tokens")
    assert {k: generation.task_params[k] for k in shared} == {
        k: perplexity.task_params[k] for k in shared
    }


def test_recall_checks_whether_a_block_read_holds_the_answers_last_token(default_model):
    task = RecallTask(
        {"model": "default", "corpus": "austen", "filler_chars": 300, "max_tokens": 2}, seed=5
    )
    task.__dict__["model"] = default_model
    item = task.items(1)[0]
    tokenizer = default_model[1]
    head, tail = task.prompt_parts(item, True)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": head + tail}], add_generation_prompt=True, tokenize=False
    )
    statement = item.data["statement"]
    value = answer_token(
        tokenizer, rendered, rendered.index(statement), statement, item.data["answer"]
    )
    tokens = tokenizer.encode(rendered, add_special_tokens=False)
    assert tokenizer.decode(tokens[: value + 1]).endswith(item.data["answer"])

    config = {"window": 24, "n_sink": 4, "mode": "episodic", "prefill_chunk": 16}
    engine = task.engine(config)
    for span, held in [((value, value), True), ((value + 1, value + 40), False)]:
        engine.strategy.selected_positions = lambda span=span: [span]
        assert task.run_trial(item, config, 0)["fact_read"] is held
    assert task.run_trial(item, WINDOW, 0)["fact_read"] is False  # no memory reads nothing
