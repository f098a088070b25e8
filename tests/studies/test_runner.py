"""Running studies: the run directory, resuming after a crash or kill -9, deviations, smoke runs."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_prereg import ROOT, example, write_prereg

from hebbian.studies import rundir
from hebbian.studies.analysis import align
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import load_prereg
from hebbian.studies.report import write_report
from hebbian.studies.runner import run_study, run_trial, trial_seed
from hebbian.studies.tasks import TrialExcluded, base, register_task
from hebbian.studies.tasks.synthetic import SyntheticTask
from hebbian.studies.trials import TrialLog, read_trials

N = 12  # items in the small runs; 5 conditions each
TRIALS = N * 5


def small(n=N, **changes):
    data = example()
    data["sample_size"]["n"] = n
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def prereg_file(tmp_path_factory):
    return write_prereg(tmp_path_factory.mktemp("prereg"), small())


@pytest.fixture(scope="module")
def reference(prereg_file):
    """An uninterrupted run of the small study."""
    out = run_study(prereg_file, out=prereg_file.parent / "reference")
    write_report(out)
    return out


def log_lines(run):
    return (run / rundir.TRIALS).read_bytes().splitlines()


def crash_after(monkeypatch, k):
    """Make the k-th trial from now raise, as a crash in the middle of a run would."""
    original, calls = SyntheticTask.run_trial, itertools.count()

    def run_trial(self, item, config, seed):
        if next(calls) == k:
            raise RuntimeError("simulated crash")
        return original(self, item, config, seed)

    monkeypatch.setattr(SyntheticTask, "run_trial", run_trial)


def test_run_directory_holds_frozen_prereg_record_trials_and_report(reference, prereg_file):
    assert (reference / "prereg.yaml").read_bytes() == prereg_file.read_bytes()
    sha = load_prereg(prereg_file).sha256
    assert (reference / "prereg.sha256").read_text() == f"{sha}  prereg.yaml\n"
    meta = json.loads((reference / "run.json").read_text())
    assert (meta["prereg_sha256"], meta["smoke"], meta["planned_n"], meta["target_n"]) == (
        sha,
        False,
        N,
        N,
    )
    assert meta["seeds"] == {"items": 20240601, "trials": 7}
    session = meta["sessions"][0]
    assert set(session["versions"]) == {
        "mlx",
        "mlx-lm",
        "numpy",
        "scipy",
        "statsmodels",
        "matplotlib",
        "hebbian",
    }
    assert session["git"] and session["python"] and session["trials_before"] == 0
    assert (reference / "report.md").exists()


def test_every_condition_runs_on_every_item_with_its_own_seed(reference):
    records, _ = read_trials(reference / rundir.TRIALS)
    assert len(records) == TRIALS
    by_item = {}
    for r in records:
        by_item.setdefault(r["item"], []).append(r["condition"])
        assert r["seed"] == trial_seed(7, r["item"], r["condition"])
    assert len(by_item) == N
    assert all(
        c == ["full_cache", "no_fact", "sliding_window", "hebbian_v", "hebbian_k"]
        for c in by_item.values()
    )


def test_resume_after_a_crash_and_a_torn_line_matches_an_uninterrupted_run(
    reference, prereg_file, monkeypatch
):
    out = prereg_file.parent / "crashed"
    crash_after(monkeypatch, 23)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(prereg_file, out=out)
    monkeypatch.undo()
    assert len(log_lines(out)) == 23
    with open(out / rundir.TRIALS, "ab") as f:
        f.write(b'{"condition":"hebbian_v","index":4,"item":"syn-0')  # torn by a crash mid-write
    run_study(prereg_file, out=out, resume=True)
    assert sorted(log_lines(out)) == sorted(log_lines(reference))
    assert write_report(out).read_text() == (reference / "report.md").read_text()
    assert [s["trials_before"] for s in json.loads((out / "run.json").read_text())["sessions"]] == [
        0,
        23,
    ]


KILLED_RUN = """
import sys, time
from hebbian.studies.runner import run_study
from hebbian.studies.tasks.synthetic import SyntheticTask

original = SyntheticTask.run_trial
def slow(self, *args):
    time.sleep(0.05)  # 60 trials take 3 s: room to kill the run between trial 20 and the end on a busy machine
    return original(self, *args)
SyntheticTask.run_trial = slow
run_study(sys.argv[1], out=sys.argv[2])
"""


def test_resume_after_kill_9_matches_an_uninterrupted_run(reference, prereg_file):
    out = prereg_file.parent / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(prereg_file), str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (out / rundir.TRIALS).exists() or len(log_lines(out)) < 20:
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert 20 <= len(log_lines(out)) < TRIALS
    run_study(prereg_file, out=out)  # a plain rerun resumes too
    assert sorted(log_lines(out)) == sorted(log_lines(reference))
    assert write_report(out).read_text() == (reference / "report.md").read_text()


def test_resume_needs_an_existing_run_and_writes_nothing(tmp_path):
    path = write_prereg(tmp_path, small())
    with pytest.raises(StudyError, match="nothing to resume"):
        run_study(path, out=tmp_path / "run", resume=True)
    assert not (tmp_path / "run").exists()


def test_edited_prereg_is_refused_without_a_deviation_and_recorded_with_one(tmp_path):
    data = small()
    path, out = write_prereg(tmp_path, data), tmp_path / "run"
    run_study(path, out=out)
    old = path.read_bytes()
    data["stopping_rule"] = "Fixed n; stopped after a reviewer asked for it."
    write_prereg(tmp_path, data)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(StudyError) as refused:
        run_study(path, out=out)
    assert refused.value.lines[0].startswith("study.yaml: changed since trials were recorded in")
    assert refused.value.lines[1].startswith('give --deviation "why"')
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    run_study(path, out=out, deviation="the reviewer asked to reword the stopping rule")
    # recorded once
    run_study(path, out=out, deviation="the reviewer asked to reword the stopping rule")
    deviations = json.loads((out / "run.json").read_text())["deviations"]
    assert [d["reason"] for d in deviations] == ["the reviewer asked to reword the stopping rule"]
    assert (
        deviations[0]["trials_before"] == TRIALS
        and "+stopping_rule: Fixed n; stopped" in deviations[0]["diff"]
    )
    assert (out / "prereg.yaml").read_bytes() == path.read_bytes()
    assert any(p.read_bytes() == old for p in out.glob("prereg.*.yaml"))
    report = write_report(out).read_text()
    assert "This run deviates from its pre-registration" in report
    assert "the reviewer asked to reword the stopping rule" in report and "```diff" in report


def test_edit_before_any_trial_needs_no_deviation(tmp_path, monkeypatch):
    data = small()
    path, out = write_prereg(tmp_path, data), tmp_path / "run"
    crash_after(monkeypatch, 0)
    with pytest.raises(RuntimeError):
        run_study(path, out=out)
    monkeypatch.undo()
    data["title"] = "A better title"
    write_prereg(tmp_path, data)
    run_study(path, out=out)
    assert json.loads((out / "run.json").read_text())["deviations"] == []


def test_limit_makes_a_labelled_smoke_run_in_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = small(n=40)
    path = write_prereg(tmp_path, data)
    assert run_study(path, limit=3) == Path("runs/synthetic-demo-smoke")
    report = write_report(Path("runs/synthetic-demo-smoke"))
    assert not Path("runs/synthetic-demo").exists()
    meta = json.loads(Path("runs/synthetic-demo-smoke/run.json").read_text())
    assert (meta["smoke"], meta["limit"], meta["target_n"], meta["planned_n"]) == (True, 3, 3, 40)
    assert len(log_lines(Path("runs/synthetic-demo-smoke"))) == 15
    text = report.read_text()
    assert (
        "**SMOKE RUN (--limit 3)" in text
        and "rejected H0" not in text
        and "did not reject" not in text
    )
    assert text.count("no decision (smoke run)") == 4
    with pytest.raises(StudyError, match="holds a smoke run"):
        run_study(path, out=Path("runs/synthetic-demo-smoke"))
    data["title"] = "Edited after the smoke run"
    write_prereg(tmp_path, data)
    # a smoke run claims nothing: the edit restarts it, no deviation needed
    run_study(path, limit=3)
    assert len(list(Path("runs/synthetic-demo-smoke").glob("trials.*.jsonl"))) == 1


def test_run_directory_guards(tmp_path):
    path = write_prereg(tmp_path, small())
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="is not a study run directory"):
        run_study(path, out=stranger)
    out = tmp_path / "run"
    with rundir.locked(out), pytest.raises(StudyError, match="another `hebbian study` is writing"):
        run_study(path, out=out)
    run_study(path, out=out)
    other = write_prereg(tmp_path, small(id="other-study"), "other.yaml")
    with pytest.raises(StudyError, match="holds study 'synthetic-demo', not 'other-study'"):
        run_study(other, out=out)


def test_trial_log_drops_a_torn_tail_and_refuses_damage(tmp_path):
    log = tmp_path / "trials.jsonl"
    good = [
        {"item": f"i{k}", "index": k, "condition": "c", "seed": k, "outcome": {"x": 1.0}}
        for k in range(3)
    ]
    with TrialLog.open_for_append(log)[0] as writer:
        for record in good:
            writer.append(record)
    intact = log.read_bytes()
    log.write_bytes(intact + b'{"item": "i3", "ind')
    assert read_trials(log) == (good, len(intact))
    writer, records = TrialLog.open_for_append(log)
    writer.close()
    assert records == good and log.read_bytes() == intact
    log.write_bytes(intact + b"\0\0\0\n")  # a zero-filled last line, as a power cut can leave
    assert read_trials(log)[0] == good
    log.write_bytes(intact.replace(b'"i1"', b'"i1', 1))
    with pytest.raises(StudyError, match="line 2 is not a complete trial record"):
        read_trials(log)
    log.write_bytes(intact + intact.splitlines(keepends=True)[0])
    with pytest.raises(StudyError, match="line 4 records item i0 under c a second time"):
        read_trials(log)


class ExcludingTask(SyntheticTask):
    """The synthetic task, with every fifth item dropped by an exclusion rule."""

    def run_trial(self, item, config, seed):
        if item.index % 5 == 0:
            raise TrialExcluded("the filler ran out before the fact left the window")
        return super().run_trial(item, config, seed)


@pytest.fixture
def excluding_task(monkeypatch):
    """ExcludingTask registered for one test only (the registry is process-wide)."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    register_task("synthetic_excluding")(ExcludingTask)


def test_excluded_items_are_recorded_and_dropped_from_every_comparison(tmp_path, excluding_task):
    data = small(n=10)
    data["task"]["name"] = "synthetic_excluding"
    path = write_prereg(tmp_path, data)
    records, _ = read_trials(run_study(path, out=tmp_path / "run") / rundir.TRIALS)
    assert sum("excluded" in r for r in records) == 2 * 5
    outcomes = align(load_prereg(path), records)
    assert outcomes.items == tuple(f"syn-{i:05d}" for i in (1, 2, 3, 4, 6, 7, 8, 9))
    assert outcomes.excluded == {
        "syn-00000": "the filler ran out before the fact left the window",
        "syn-00005": "the filler ran out before the fact left the window",
    }
    assert all(len(v) == 8 for metrics in outcomes.values.values() for v in metrics.values())


def test_a_task_breaking_its_declared_metrics_is_an_error(tmp_path):
    prereg = load_prereg(write_prereg(tmp_path, small()))
    task = prereg.make_task()
    task.run_trial = lambda item, config, seed: {"correct": 0.5, "logprob": 1.0}
    with pytest.raises(TypeError, match="binary metric correct must be True or False"):
        run_trial(prereg, task, task.items(1)[0], "sliding_window")


def test_a_text_metric_is_kept_in_the_trial_record_and_must_be_text(tmp_path):
    prereg = load_prereg(write_prereg(tmp_path, small()))
    task = prereg.make_task()
    task.metrics = {**task.metrics, "reply": "text"}
    plain = task.run_trial
    task.run_trial = lambda item, config, seed: {**plain(item, config, seed), "reply": "\n\n"}
    record = run_trial(prereg, task, task.items(1)[0], "sliding_window")
    assert record["outcome"]["reply"] == "\n\n"
    task.run_trial = lambda item, config, seed: {**plain(item, config, seed), "reply": 3}
    with pytest.raises(TypeError, match="text reply must be a string"):
        run_trial(prereg, task, task.items(1)[0], "sliding_window")


def test_an_exploratory_page_names_its_prereg_and_each_sessions_revision_once(tmp_path):
    sessions = [{"git": "abc1234"}, {"git": "def5678 + uncommitted changes"}, {"git": "abc1234"}]
    (tmp_path / "run.json").write_text(
        json.dumps({"prereg_source": "recall.yaml", "sessions": sessions})
    )
    page = rundir.exploratory_page(
        tmp_path, "experiments/x.py", "A title", ["| a | table |"]
    ).splitlines()
    assert page[:2] == ["# A title", ""]
    assert page[2].startswith(
        "Pre-registered as exploratory in `prereg/recall.yaml`: descriptions only, no tests."
    )
    assert page[2].endswith(
        f"Made by `experiments/x.py` from `{tmp_path}`, whose trials ran at "
        "`abc1234`, `def5678 + uncommitted changes`."
    )
    assert page[4] == "| a | table |" and "## Provenance" in page
