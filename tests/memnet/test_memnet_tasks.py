"""Recall sequences: layout, targets, distances, marks, distractors and continual-task shifts."""

import numpy as np
import pytest

from hebbian.memnet import tasks


def pairs_in(tokens, roles, key_role, value_role):
    keys = np.nonzero(roles == key_role)[0]
    return {int(tokens[k]): (int(tokens[k + 1]), k + 1) for k in keys if roles[k + 1] == value_role}


@pytest.mark.parametrize(
    "options", [dict(), dict(n_distractors=2, mark=True), dict(n_pairs=3, story_length=12)]
)
def test_every_query_asks_for_a_stored_value_at_the_right_distance(options):
    task = tasks.RecallTask(tasks.Vocabulary(), **{"story_length": 16, "n_pairs": 2, **options})
    batch = tasks.sample(task, 50, np.random.default_rng(0))
    assert batch.tokens.shape == (50, task.length)
    for b in range(50):
        tokens, roles = batch.tokens[b], batch.roles[b]
        stored = pairs_in(tokens, roles, tasks.KEY, tasks.VALUE)
        distractors = pairs_in(tokens, roles, tasks.DISTRACTOR_KEY, tasks.DISTRACTOR_VALUE)
        assert len(stored) == task.n_pairs and len(distractors) == task.n_distractors
        asked = np.nonzero(batch.targets[b] >= 0)[0]
        assert len(asked) == task.n_pairs
        for q in asked:
            assert roles[q] == tasks.QUERY_KEY and tokens[q - 1] == task.vocab.query
            value, at = stored[int(tokens[q])]
            assert batch.targets[b, q] == value
            assert batch.distances[b, q] == q - at
        if task.mark:
            keys = np.nonzero(roles == tasks.KEY)[0]
            assert (tokens[keys - 1] == task.vocab.mark).all()


def test_continual_tasks_shift_keys_and_answers():
    vocab = tasks.Vocabulary(n_tasks=3)
    task = tasks.RecallTask(vocab, story_length=12, n_pairs=2, task=2, answer_shift=1)
    batch = tasks.sample(task, 20, np.random.default_rng(1))
    keys = batch.tokens[batch.roles == tasks.KEY]
    assert (
        (keys >= vocab.first_key + 2 * vocab.n_keys) & (keys < vocab.first_key + 3 * vocab.n_keys)
    ).all()
    for b in range(20):
        stored = pairs_in(batch.tokens[b], batch.roles[b], tasks.KEY, tasks.VALUE)
        for q in np.nonzero(batch.targets[b] >= 0)[0]:
            value = stored[int(batch.tokens[b, q])][0] - vocab.first_value
            assert batch.targets[b, q] == vocab.first_value + (value + 2) % vocab.n_values


def test_sampling_is_reproducible():
    task = tasks.RecallTask(tasks.Vocabulary())
    a = tasks.sample(task, 4, np.random.default_rng(5))
    b = tasks.sample(task, 4, np.random.default_rng(5))
    np.testing.assert_array_equal(a.tokens, b.tokens)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(story_length=5, n_pairs=3), "cannot hold"),
        (dict(n_pairs=6, n_distractors=4), "distinct keys"),
        (dict(task=1), "task must lie"),
    ],
)
def test_impossible_tasks_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        tasks.RecallTask(tasks.Vocabulary(), **options)
