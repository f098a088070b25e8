"""The needle task on the real default model: its grid of cells, prompts of the cells' lengths, the
fact's token positions, and one short cell run through a full cache and an episodic oracle."""

import pytest

from hebbian.studies.tasks.needle import NeedleTask, cut_at_sentence, insert_facts
from hebbian.studies.tasks.recall_items import is_recalled

PARAMS = {
    "model": "default",
    "corpus": "austen",
    "lengths": [512, 1024],
    "depths": [0.1, 0.9],
    "distractors": [0, 2],
    "max_tokens": 8,
}


@pytest.fixture(scope="module")
def task(default_model):
    task = NeedleTask(PARAMS, seed=4)
    task.__dict__["model"] = default_model  # the session's copy, not a second load
    return task


def test_facts_sit_at_sentence_ends_near_their_depth():
    filler = "One two. Three four five. Six seven. Eight nine ten eleven."
    assert insert_facts(filler, [(0.0, "F.")]) == "F. " + filler
    assert (
        insert_facts(filler, [(0.5, "F."), (1.0, "G.")])
        == "One two. Three four five. F. Six seven. Eight nine ten eleven. G."
    )
    assert cut_at_sentence("It rained. Then it sn") == "It rained."


def test_items_walk_the_cells_in_order_with_prompts_of_their_length(task):
    items = task.items(9)
    assert [it.data["length"] for it in items] == [512] * 4 + [1024] * 4 + [512]
    assert [(it.data["depth"], len(it.data["distractors"])) for it in items[:4]] == [
        (0.1, 0),
        (0.1, 2),
        (0.9, 0),
        (0.9, 2),
    ]
    # a prefix: the same items
    assert [it.data for it in task.items(3)] == [it.data for it in items[:3]]
    assert items[0].data["statement"] != items[8].data["statement"]  # the same cell, a fresh fact
    for it in items:
        d = it.data
        tokens = len(task.encode(task.prompt(d, d["filler"], True)))
        assert 0.8 * d["length"] <= tokens <= d["length"]  # cut at a sentence end: a little short
        others = [s for _, s in d["distractors"]]
        assert len(set(others + [d["statement"]])) == len(others) + 1
        # the asked value is in no distractor
        assert not any(is_recalled(d["answer"], s) for s in others)


def test_fact_positions_point_at_the_statement_and_its_value(task):
    d = task.items(2)[1].data
    rendered = task.prompt(d, d["filler"], True)
    prompt = task.encode(rendered)
    first, value, last = task.fact_positions(rendered, d["statement"], d["answer"])
    assert task.tokenizer.decode(prompt[first : last + 1]).strip() == d["statement"]
    # all but the full stop
    assert task.tokenizer.decode(prompt[first : value + 1]).strip() == d["statement"][:-1]


def test_an_oracle_is_refused_without_episodic(task):
    assert "only with mode episodic" in NeedleTask.check_config({"mode": "off", "oracle": True})
    assert NeedleTask.check_config({"mode": "episodic", "oracle": True, "show_fact": False}) is None


def test_a_short_cell_under_a_full_cache_and_an_episodic_oracle(task):
    # 512 tokens, the fact at depth 0.1: some 400 tokens before the question
    item = task.items(1)[0]
    full = task.run_trial(
        item, {"window": 1024, "n_sink": 4, "mode": "off", "prefill_chunk": 256}, 0
    )
    oracle = task.run_trial(
        item,
        {"window": 124, "n_sink": 4, "mode": "episodic", "oracle": True, "prefill_chunk": 128},
        0,
    )
    assert set(full) == set(oracle) == set(NeedleTask.metrics)
    assert not full["evicted"] and not full["fact_read"]  # held in the cache; no block read
    # gone from the window, read back from the store
    assert oracle["evicted"] and oracle["fact_read"]
    assert full["distance"] == oracle["distance"] > 124 + 4 + 128
    assert (full["length"], full["depth"], full["distractors"]) == (512.0, 0.1, 0.0)
    assert 0.8 * 512 <= full["tokens"] <= 512 and full["logprob"] < 0 and oracle["logprob"] < 0
    assert full["memory_bytes"] > 0 and oracle["memory_bytes"] > 0
