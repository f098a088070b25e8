"""Tuning on a split (hebbian.studies.tuning), on the synthetic task whose effects are known, and on a
variant of it whose replies degenerate at known rates (the fluency guard)."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hebbian.cli import app
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import PreregError, load_prereg, sha256
from hebbian.studies.runner import run_study
from hebbian.studies.schema import Field, probability
from hebbian.studies.tasks import TrialExcluded, base, register_task
from hebbian.studies.tasks.synthetic import SyntheticTask
from hebbian.studies.trials import read_trials
from hebbian.studies.tuning import Guard, analyse, load_spec, run_tuning, write_tuning_report

PREREG = Path(__file__).resolve().parents[2] / "prereg"
SPEC = {
    "id": "synthetic-tuning",
    "study": "synthetic.yaml",
    "items": 30,
    "seed": 99,
    "task": {"noise_sd": 0.5},
    "outcome": "logprob",
    "goal": "max",
    "reference": "sliding_window",
    # the true shifts are the values themselves; the study's own hebbian_v has 0.45
    "grid": {
        "hebbian_v": {"logprob_shift": [0.0, 3.0, 1.0]},
        "hebbian_k": {"logprob_shift": [-1.0, 0.5]},
    },
}


def write_spec(tmp_path: Path, **changes) -> Path:
    shutil.copy(PREREG / "synthetic.yaml", tmp_path / "synthetic.yaml")
    path = tmp_path / "tuning.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **changes}))
    return path


def test_points_are_the_reference_then_each_grid_product_on_the_study_config(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path, grid={"hebbian_v": {"logprob_shift": [0.0, 1.0], "p_correct": [0.1, 0.2]}}
        )
    )
    names = [p.name for p in spec.points()]
    assert names == [
        "sliding_window",
        "hebbian_v logprob_shift=0.0 p_correct=0.1",
        "hebbian_v logprob_shift=0.0 p_correct=0.2",
        "hebbian_v logprob_shift=1.0 p_correct=0.1",
        "hebbian_v logprob_shift=1.0 p_correct=0.2",
    ]
    assert spec.points()[0].config == spec.study.condition("sliding_window").config
    # the split's task parameters override the study's
    assert spec.make_task().settings["noise_sd"] == 0.5


@pytest.mark.parametrize(
    "goal, expected",
    [("max", {"hebbian_v": 3.0, "hebbian_k": 0.5}), ("min", {"hebbian_v": 0.0, "hebbian_k": -1.0})],
)
def test_the_pick_is_the_known_best_point(tmp_path, goal, expected):
    path = write_spec(tmp_path, goal=goal)
    run = run_tuning(path, out=tmp_path / "run")
    records, _ = read_trials(run / "trials.jsonl")
    assert len(records) == 30 * 6
    results, picks = analyse(load_spec(path), records)
    assert {c: p.knobs["logprob_shift"] for c, p in picks.items()} == expected
    best = next(r for r in results if r.point == picks["hebbian_v"])
    if goal == "max":  # +3 over a reference with shift 0: the interval must hold it
        assert (
            best.difference.ci_low < 3.0 < best.difference.ci_high and best.difference.ci_low > 2.0
        )


def test_a_rerun_adds_no_trial_and_resumes_a_cut_log(tmp_path):
    path = write_spec(tmp_path)
    run = run_tuning(path, out=tmp_path / "run")
    log = run / "trials.jsonl"
    full = log.read_bytes()
    lines = full.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:50]) + lines[50][:10])  # 50 trials and a torn line
    run_tuning(path, out=run)
    records, _ = read_trials(log)
    assert sorted(json.dumps(r, sort_keys=True) for r in records) == sorted(
        json.dumps(json.loads(x), sort_keys=True) for x in full.splitlines()
    )
    sessions = json.loads((run / "run.json").read_text())["sessions"]
    assert [s["trials_before"] for s in sessions] == [0, 50]


def test_report_has_every_point_the_picks_and_a_figure(tmp_path):
    path = write_spec(tmp_path)
    report = write_tuning_report(
        load_spec(path), run_tuning(path, out=tmp_path / "run"), tmp_path / "out" / "t.md"
    )
    text = report.read_text()
    assert all(f"`{p.name}`" in text for p in load_spec(path).points())
    assert text.count("**pick**") == 2
    assert 'hebbian_v: {"p_correct": 0.45, "logprob_shift": 3.0}' in text
    assert (tmp_path / "out" / "t_points.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"reference": "nope"}, "reference: 'nope' is not a condition"),
        ({"outcome": "correct"}, "outcome: 'correct' is not a continuous outcome"),
        ({"grid": {"nope": {"logprob_shift": [1.0]}}}, "grid.nope: not a condition"),
        (
            {"grid": {"hebbian_v": {"logprob_shift": []}}},
            "grid.hebbian_v.logprob_shift: expected a non-empty list",
        ),
        ({"goal": "best"}, "goal: 'best' is not allowed"),
        ({"study": "missing.yaml"}, "study: missing.yaml: cannot be loaded"),
    ],
)
def test_a_bad_spec_names_its_field(tmp_path, changes, message):
    with pytest.raises(StudyError) as e:
        load_spec(write_spec(tmp_path, **changes))
    assert any(message in line for line in e.value.lines), e.value.lines


def test_a_bad_grid_value_stops_before_any_trial(tmp_path):
    path = write_spec(tmp_path, grid={"hebbian_v": {"p_correct": [0.5, 1.5]}})
    with pytest.raises(StudyError, match="p_correct: must lie in"):
        run_tuning(path, out=tmp_path / "run")
    assert not (tmp_path / "run" / "trials.jsonl").exists()


def test_engine_conditions_are_checked_when_a_prereg_loads(tmp_path):
    text = (PREREG / "recall-smoke.yaml").read_text().replace("mode: memory,", "mode: memroy,")
    (tmp_path / "bad.yaml").write_text(text.replace("{window: 16,", "{windw: 16,", 1))
    with pytest.raises(PreregError) as e:
        load_prereg(tmp_path / "bad.yaml")
    assert any(
        "conditions.memory.config: mode must be one of off" in line for line in e.value.lines
    )
    assert any("config: not an engine setting: 'windw'" in line for line in e.value.lines)


def test_the_committed_tuning_files_load():
    # grid points as committed: 19 in round 1, more where round 2 widened the grid
    for name, points in (("recall", 25), ("perplexity", 22)):
        spec = load_spec(PREREG / "tuning" / f"{name}.yaml")
        assert (
            spec.seed != spec.study.item_seed
            or spec.task.get("corpus") != spec.study.task_params["corpus"]
        )
        assert len(spec.points()) == points
    # the recall task records its replies' degeneration, so a re-tune of recall is guarded; perplexity scores no reply
    assert load_spec(PREREG / "tuning" / "recall.yaml").guard == Guard(
        "degenerate", 0.0, default=True
    )
    assert load_spec(PREREG / "tuning" / "perplexity.yaml").guard is None


def test_tune_command_writes_the_report(tmp_path):
    path = write_spec(tmp_path)
    result = CliRunner().invoke(
        app, ["tune", str(path), "--out", str(tmp_path / "run"), "--report", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.md").exists()
    bad = CliRunner().invoke(app, ["tune", str(write_spec(tmp_path, reference="nope"))])
    assert bad.exit_code == 2 and "reference: 'nope'" in bad.output


def test_a_tuning_run_split_three_ways_gives_the_trials_and_picks_of_one(tmp_path):
    path = write_spec(tmp_path, items=8)
    one = write_tuning_report(load_spec(path), run_tuning(path, out=tmp_path / "one"))
    split = tmp_path / "split"
    outputs = [
        CliRunner().invoke(app, ["tune", str(path), "--out", str(split), "--shard", f"{k}/3"])
        for k in (1, 2, 0)
    ]
    assert [r.exit_code for r in outputs] == [0, 0, 0], [r.output for r in outputs]
    assert [r.stdout.strip() for r in outputs] == ["", "", f"report: {split}/report.md"]
    assert "share 1/3 is finished; the last share to finish writes the report" in outputs[0].stderr
    assert (split / "trials.jsonl").read_bytes() == (tmp_path / "one" / "trials.jsonl").read_bytes()
    assert (split / "report.md").read_text().split("## Runs")[0] == one.read_text().split(
        "## Runs"
    )[0]
    assert sorted(s["shard"] for s in json.loads((split / "run.json").read_text())["sessions"]) == [
        "0/3",
        "1/3",
        "2/3",
    ]
    assert "0 trials already logged in share 2/3; git" in (split / "report.md").read_text()
    unsplit = CliRunner().invoke(app, ["tune", str(path), "--out", str(split)])
    assert (
        unsplit.exit_code == 2
        and "holds a run split 3 ways, and this one is not split" in unsplit.stderr
    )


def test_shares_of_a_tuning_run_with_different_tuning_files_are_refused(tmp_path):
    path = write_spec(tmp_path, items=6)
    first = CliRunner().invoke(
        app, ["tune", str(path), "--out", str(tmp_path / "run"), "--shard", "0/2"]
    )
    assert first.exit_code == 0, first.output
    old = sha256(path.read_bytes())
    path = write_spec(tmp_path, items=6, seed=100)
    second = CliRunner().invoke(
        app, ["tune", str(path), "--out", str(tmp_path / "run"), "--shard", "1/2"]
    )
    assert second.exit_code == 2
    assert [line for line in second.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {tmp_path / 'run'}: share 0/2 last ran tuning file sha256 {old[:12]} with n 6, but the run's "
        f"tuning file is {sha256(path.read_bytes())[:12]} with n 6; rerun that share with the run's tuning file"
    ]


# ------------------------------------------------------------------ the fluency guard


class DegeneratingTask(SyntheticTask):
    """The synthetic task with a `degenerate` outcome, true on a known share of the items: item i degenerates
    when i % 10 < 10 * p_degenerate, so on 30 items p_degenerate 0.1 breaks exactly 3. As slots' strength does
    on the recall task, breaking a reply raises its score: a degenerate trial's logprob gains 5, so the
    unguarded pick is the point that degenerates most."""

    metrics = {**SyntheticTask.metrics, "degenerate": "binary"}
    config = {
        **SyntheticTask.config,
        "p_degenerate": Field("number", required=False, default=0.0, check=probability),
    }

    def run_trial(self, item, config, seed):
        out = super().run_trial(item, config, seed)
        degenerate = item.index % 10 < round(10 * config["p_degenerate"])
        return {**out, "logprob": out["logprob"] + 5.0 * degenerate, "degenerate": degenerate}


@pytest.fixture
def degenerating(monkeypatch):
    """DegeneratingTask registered for one test only (the registry is process-wide)."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    register_task("synthetic_degenerating")(DegeneratingTask)


# the reference (sliding_window) degenerates at 0.1: 3 of 30 items
RATES = [0.0, 0.1, 0.2, 0.5, 1.0]


def write_guarded(tmp_path: Path, **changes) -> Path:
    text = (
        (PREREG / "synthetic.yaml")
        .read_text()
        .replace("name: synthetic", "name: synthetic_degenerating")
    )
    text = text.replace(
        "config: {p_correct: 0.30, logprob_shift: 0.0}",
        "config: {p_correct: 0.30, logprob_shift: 0.0, p_degenerate: 0.1}",
        1,
    )
    (tmp_path / "synthetic.yaml").write_text(text)
    path = tmp_path / "tuning.yaml"
    spec = {
        **SPEC,
        "grid": {"hebbian_v": {"p_degenerate": RATES}, "hebbian_k": {"p_degenerate": [0.5, 1.0]}},
    }
    path.write_text(yaml.safe_dump({**spec, **changes}))
    return path


def test_a_task_that_records_degenerate_is_guarded_on_it_by_default(tmp_path, degenerating):
    assert load_spec(write_guarded(tmp_path)).guard == Guard("degenerate", 0.0, default=True)
    assert load_spec(
        write_guarded(tmp_path, guard={"outcome": "degenerate", "margin": 0.1})
    ).guard == Guard("degenerate", 0.1, default=False)
    assert load_spec(write_spec(tmp_path)).guard is None  # the synthetic task generates nothing


@pytest.mark.parametrize(
    "margin, kept, pick",
    [
        (0.0, [0.0, 0.1], 0.1),  # no more than the reference's 3/30
        (0.1, [0.0, 0.1, 0.2], 0.2),  # 6/30 is 0.1 above it: at the margin, kept
        # a margin of 1 excludes nothing: the pick is the point that breaks every reply
        (1.0, RATES, 1.0),
    ],
)
def test_the_guard_excludes_points_that_degenerate_more_than_the_reference(
    tmp_path, degenerating, margin, kept, pick
):
    path = write_guarded(tmp_path, guard={"outcome": "degenerate", "margin": margin})
    results, picks = analyse(
        load_spec(path), read_trials(run_tuning(path, out=tmp_path / "run") / "trials.jsonl")[0]
    )
    v = {r.point.knobs["p_degenerate"]: r for r in results if r.point.condition == "hebbian_v"}
    assert {rate: r.guarded for rate, r in v.items()} == {0.0: 0, 0.1: 3, 0.2: 6, 0.5: 15, 1.0: 30}
    assert [rate for rate, r in v.items() if r.excluded is None] == kept
    assert picks["hebbian_v"].knobs["p_degenerate"] == pick
    # unguarded, the most broken point would win
    assert max(v.values(), key=lambda r: r.mean) is v[1.0]
    # the reference itself is never excluded
    assert results[0].excluded is None and results[0].guarded == 3


def test_a_condition_whose_every_point_degenerates_more_has_no_pick(tmp_path, degenerating):
    path = write_guarded(tmp_path)
    results, picks = analyse(
        load_spec(path), read_trials(run_tuning(path, out=tmp_path / "run") / "trials.jsonl")[0]
    )
    assert picks["hebbian_k"] is None
    assert [r.excluded for r in results if r.point.condition == "hebbian_k"] == [
        "degenerate 15/30 > sliding_window 3/30",
        "degenerate 30/30 > sliding_window 3/30",
    ]


def test_the_report_says_which_points_the_guard_excluded_and_why(tmp_path, degenerating):
    path = write_guarded(tmp_path, guard={"outcome": "degenerate", "margin": 0.1})
    text = write_tuning_report(
        load_spec(path), run_tuning(path, out=tmp_path / "run"), tmp_path / "r.md"
    ).read_text()
    assert (
        "The guard (as the tuning file sets it): a point whose `degenerate` rate on these items exceeds "
        "`sliding_window`'s by more than 0.1 (a share of the items) is never picked." in text
    )
    assert (
        "| `hebbian_v p_degenerate=0.5` | 30 |" in text
        and "| 15/30 | excluded: degenerate 15/30 > sliding_window 3/30 + margin 0.1 |  |" in text
    )
    assert "| 6/30 |  | **pick** |" in text  # p_degenerate 0.2, at the margin
    # grid order (yaml.safe_dump sorts it)
    assert (
        "The guard excluded 4 of 7 grid points: `hebbian_k p_degenerate=0.5` (degenerate 15/30 > sliding_window "
        "3/30 + margin 0.1); `hebbian_k p_degenerate=1.0`" in text
    )
    assert (
        "; `hebbian_v p_degenerate=0.5` (degenerate 15/30 > sliding_window 3/30 + margin 0.1); "
        in text
    )
    assert "No pick for `hebbian_k`: the guard excluded every point of it." in text
    assert "hebbian_k: null  # no point passed the guard" in text
    assert '"p_degenerate": 0.2}' in text.split("Picks, as condition configs:")[1]
    assert (
        "by default, as the task records it"
        in write_tuning_report(
            load_spec(write_guarded(tmp_path)), tmp_path / "run", tmp_path / "d.md"
        ).read_text()
    )


def test_an_unguarded_report_is_as_before(tmp_path):
    path = write_spec(tmp_path)
    text = write_tuning_report(
        load_spec(path), run_tuning(path, out=tmp_path / "run"), tmp_path / "r.md"
    ).read_text()
    assert "guard" not in text
    assert "| point | n | mean logprob | difference from sliding_window [95% CI] | pick |" in text


def test_trials_logged_without_the_guards_outcome_are_refused_in_one_line(tmp_path, degenerating):
    path = write_guarded(tmp_path)
    records, _ = read_trials(run_tuning(path, out=tmp_path / "run") / "trials.jsonl")
    for r in records[:7]:
        del r["outcome"]["degenerate"]
    with pytest.raises(StudyError) as e:
        analyse(load_spec(path), records)
    assert e.value.lines == [
        "guard: 7 trials of this run do not record 'degenerate' (logged before task "
        "synthetic_degenerating recorded it); run the tuning again in a new directory"
    ]


@pytest.mark.parametrize(
    "guard, message",
    [
        (
            {"outcome": "logprob"},
            "guard.outcome: 'logprob' is not a binary outcome of task synthetic_degenerating; "
            "allowed: correct, degenerate",
        ),
        ({"outcome": "degenerate", "margin": 1.5}, "guard.margin: must lie in [0, 1], got 1.5"),
        (
            {"outcome": "degenerate", "margn": 0.1},
            "guard.margn: unknown key; allowed keys: outcome, margin",
        ),
        ({"margin": 0.1}, "guard.outcome: missing (required; text)"),
        # no silent way to turn it off
        (None, "guard: expected a mapping (key: value lines), got nothing"),
    ],
)
def test_a_bad_guard_names_its_field(tmp_path, degenerating, guard, message):
    with pytest.raises(StudyError) as e:
        load_spec(write_guarded(tmp_path, guard=guard))
    assert message in e.value.lines, e.value.lines


# ------------------------------------------------------------------ the study's runner, for tuning too


class ExcludingTask(SyntheticTask):
    """The synthetic task, dropping every fifth item under an exclusion rule."""

    def run_trial(self, item, config, seed):
        if item.index % 5 == 0:
            raise TrialExcluded("the filler ran out")
        return super().run_trial(item, config, seed)


def test_items_the_task_excludes_are_logged_and_leave_every_comparison(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    register_task("synthetic_excluding")(ExcludingTask)
    text = (
        (PREREG / "synthetic.yaml")
        .read_text()
        .replace("name: synthetic", "name: synthetic_excluding")
    )
    (tmp_path / "synthetic.yaml").write_text(text)
    path = tmp_path / "tuning.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "items": 10}))
    run = run_tuning(path, out=tmp_path / "run")
    records, _ = read_trials(run / "trials.jsonl")
    assert sum("excluded" in r for r in records) == 2 * 6  # items 0 and 5, under every point
    results, _ = analyse(load_spec(path), records)
    assert {r.n for r in results} == {8}
    text = write_tuning_report(load_spec(path), run, tmp_path / "r.md").read_text()
    assert (
        "8 of 10 planned items finished under every point" in text
        and "The task excluded 2 items under its exclusion rule (the filler ran out); they leave "
        "every comparison."
        in text
    )


def test_a_tuning_file_is_read_as_a_prereg_is(tmp_path):
    path = write_spec(tmp_path)
    path.write_text(path.read_text() + "items: 12\n")
    with pytest.raises(StudyError) as e:
        load_spec(path)
    [line] = e.value.lines
    assert line.startswith(f"{path}: not valid YAML: key 'items' is given twice (line ")
    with pytest.raises(StudyError, match="missing.yaml: cannot read it"):
        load_spec(tmp_path / "missing.yaml")


def test_a_tuning_run_keeps_to_its_own_run_directory(tmp_path):
    path = write_spec(tmp_path, items=4)
    run = run_tuning(path, out=tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    assert set(meta) == {"id", "sessions"} and meta["id"] == "synthetic-tuning"
    assert (run / "tuning.yaml").read_bytes() == path.read_bytes()
    other = tmp_path / "another.yaml"
    other.write_text(yaml.safe_dump({**SPEC, "items": 4, "id": "another-tuning"}))
    with pytest.raises(
        StudyError, match="holds tuning 'synthetic-tuning', not tuning 'another-tuning'"
    ):
        run_tuning(other, out=run)
    study = tmp_path / "study"
    run_study(tmp_path / "synthetic.yaml", out=study, limit=2)
    before = {p.name: p.read_bytes() for p in study.iterdir() if p.is_file()}
    with pytest.raises(
        StudyError, match="holds study 'synthetic-demo', not tuning 'synthetic-tuning'"
    ):
        run_tuning(path, out=study)
    with pytest.raises(
        StudyError, match="holds tuning 'synthetic-tuning', not study 'synthetic-demo'"
    ):
        run_study(tmp_path / "synthetic.yaml", out=run, limit=2)
    assert {p.name: p.read_bytes() for p in study.iterdir() if p.is_file()} == before
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="is not a study run directory"):
        run_tuning(path, out=stranger)
