"""EngineTask's config check (hebbian.studies.tasks.engine_task): every problem of a condition's engine
config in one line, found from EngineConfig's parameters and annotations, and one engine per config."""

import pytest

from hebbian.studies.tasks.engine_task import EngineTask, engine_config_problem
from hebbian.studies.tasks.needle import NeedleTask
from hebbian.studies.tasks.perplexity import PerplexityTask
from hebbian.studies.tasks.recall import RecallTask


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"window": 16, "mode": "memory"}, None),
        ({"strength": None, "budget": float("inf"), "recall_distance": None}, None),
        ({"strength": 100, "decay": 1}, None),  # an integer is a number
        ({"windw": 16}, "not an engine setting: 'windw'"),
        ({"windw": 16, "mde": "off", "window": 16}, "not an engine setting: 'windw', 'mde'"),
        ({"window": "16"}, "window: expected an integer, got text '16'"),
        ({"window": 16.0}, "window: expected an integer, got number 16.0"),
        ({"track_importance": 1}, "track_importance: expected true or false, got integer 1"),
        ({"window": True}, "window: expected an integer, got boolean True"),
        ({"strength": "high"}, "strength: expected a number or nothing, got text 'high'"),
        (
            {"mode": "memroy"},
            "mode must be one of off, rank1, association, memory, slots, episodic",
        ),
        ({"window": 0}, "window must be at least 1, got 0"),
    ],
)
def test_an_engine_config_problem_is_one_line(config, problem):
    got = engine_config_problem(config)
    assert got == problem or (problem is not None and got.startswith(problem)), got


def test_a_tasks_own_keys_never_reach_the_engine():
    assert RecallTask.check_config({"window": 16, "show_fact": False}) is None
    assert NeedleTask.check_config({"mode": "episodic", "oracle": True, "show_fact": False}) is None
    # the perplexity task has no fact to show: a show_fact there is a mistake, not a no-op
    assert PerplexityTask.check_config({"window": 16, "show_fact": False}) == (
        "not an engine setting: 'show_fact'"
    )
    assert NeedleTask.engine_knobs({"window": 16, "oracle": True, "show_fact": False}) == {
        "window": 16
    }
    assert EngineTask.engine_knobs({"window": 16}) == {"window": 16}


def test_an_oracle_condition_has_an_engine_of_its_own(tiny):
    """needle.yaml's episodic and episodic_oracle differ only in the oracle: sharing one engine, the oracle's
    pins would stay for the next item's plain episodic trial."""
    task = NeedleTask({"model": "tiny", "lengths": [64], "depths": [0.5]}, seed=0)
    task.__dict__["model"] = tiny
    plain = {"window": 16, "n_sink": 4, "mode": "episodic", "retrieval_heads": "all"}
    oracle = task.engine({**plain, "oracle": True})
    oracle.strategy.pinned = (3, 9)
    engine = task.engine(plain)
    assert engine is not oracle and engine.strategy.pinned is None
    assert (
        task.engine({**plain, "oracle": True}) is oracle
    )  # built once per config, reset each trial
