"""A study split among processes: mlx.launch ranks or --shard K/N, resuming a share, gathering and refusing shares."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from test_prereg import ROOT, example, write_prereg
from test_study_cli import app, error_lines
from typer.testing import CliRunner

from hebbian.studies import rundir, shards
from hebbian.studies.errors import StudyError
from hebbian.studies.prereg import sha256
from hebbian.studies.runner import run_study
from hebbian.studies.trials import read_trials

N_ITEMS = 7  # 5 conditions each
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
LAUNCH = shutil.which("mlx.launch", path=os.path.dirname(sys.executable))


@pytest.fixture(scope="module")
def prereg_file(tmp_path_factory):
    data = example()
    data["sample_size"]["n"] = N_ITEMS
    return write_prereg(tmp_path_factory.mktemp("prereg"), data)


@pytest.fixture(scope="module")
def reference(prereg_file):
    """A one-process run of the study, with its report."""
    return CliRunner().invoke(
        app, ["study", str(prereg_file), "--out", str(prereg_file.parent / "one")]
    ), prereg_file.parent / "one"


def without_git(report):
    """The report's text less its git line, which another commit in this checkout may change mid-test."""
    return [line for line in report.read_text().splitlines() if not line.startswith("- git: ")]


def run_share(prereg_file, out, k, n, **kw):
    run_study(prereg_file, out=out, shard=shards.Shard(k, n), **kw)
    return shards.report(out, when_complete=True)


def test_shards_are_disjoint_and_cover_every_item():
    for n in range(1, 6):
        owners = [[k for k in range(n) if shards.Shard(k, n).owns(i)] for i in range(23)]
        assert all(len(o) == 1 for o in owners)
        assert {o[0] for o in owners} == set(range(n))


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "a/b", "1", "1/2/3"])
def test_a_bad_shard_is_one_line_and_exit_2(prereg_file, tmp_path, text):
    result = CliRunner().invoke(
        app, ["study", str(prereg_file), "--shard", text, "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"error: --shard must be K/N with 0 <= K < N (share K of N, counted from 0), got {text!r}"
    ]
    assert not (tmp_path / "run").exists()


def test_shard_option_and_mlx_launch_are_not_both_taken(monkeypatch):
    import mlx.core as mx

    class Group:
        def rank(self):
            return 1

        def size(self):
            return 3

    monkeypatch.setattr(mx.distributed, "init", lambda *a, **kw: Group())
    assert shards.resolve(None) == shards.Shard(1, 3)
    with pytest.raises(StudyError, match="--shard 0/2 given to 3 processes started by mlx.launch"):
        shards.resolve("0/2")


def test_every_share_run_apart_gives_the_trials_and_report_of_one_process(
    prereg_file, reference, tmp_path
):
    result, one = reference
    assert result.exit_code == 0, result.output
    out = tmp_path / "split"
    # not complete: no report
    assert [run_share(prereg_file, out, k, 3) for k in (2, 0)] == [None, None]
    logs = [read_trials(out / shards.Shard(k, 3).log)[0] for k in (0, 1, 2)]
    assert [sorted({r["index"] for r in log}) for log in logs] == [[0, 3, 6], [], [2, 5]]
    # the last share writes the report
    assert run_share(prereg_file, out, 1, 3) == out / "report.md"
    assert (out / rundir.TRIALS).read_bytes() == (one / rundir.TRIALS).read_bytes()
    assert without_git(out / "report.md") == without_git(one / "report.md")
    meta = json.loads((out / rundir.META).read_text())
    assert meta["shards"] == 3 and sorted(s["shard"] for s in meta["sessions"]) == [
        "0/3",
        "1/3",
        "2/3",
    ]


@pytest.mark.skipif(LAUNCH is None, reason="mlx.launch is not installed beside this python")
def test_two_processes_under_mlx_launch_give_the_trials_of_one(prereg_file, reference, tmp_path):
    _, one = reference
    out = tmp_path / "launched"
    command = [
        LAUNCH,
        "-n",
        "2",
        "--backend",
        "ring",
        "--",
        sys.executable,
        "-m",
        "hebbian",
        "study",
        str(prereg_file),
        "--out",
        str(out),
    ]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines().count(f"report: {out}/report.md") >= 1
    assert sorted(p.name for p in out.glob("trials.*")) == [
        "trials.jsonl",
        "trials.shard-0-of-2.jsonl",
        "trials.shard-1-of-2.jsonl",
    ]
    assert (out / rundir.TRIALS).read_bytes() == (one / rundir.TRIALS).read_bytes()
    assert without_git(out / "report.md") == without_git(one / "report.md")


def test_a_job_array_started_at_once_shares_the_run_directory(prereg_file, reference, tmp_path):
    """Two processes prepare the same new run directory together: the lock lets one freeze it."""
    _, one = reference
    out = tmp_path / "array"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hebbian",
                "study",
                str(prereg_file),
                "--out",
                str(out),
                "--shard",
                f"{k}/2",
            ],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (0, 1)
    ]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert (out / rundir.TRIALS).read_bytes() == (one / rundir.TRIALS).read_bytes()
    assert (out / "report.md").exists()


KILLED_SHARE = """
import sys, time
from hebbian.studies.runner import run_study
from hebbian.studies.shards import parse
from hebbian.studies.tasks.synthetic import SyntheticTask

original = SyntheticTask.run_trial
def slow(self, *args):
    time.sleep(0.1)  # the share's 20 trials take 2 s: room to kill it after the third on a busy machine
    return original(self, *args)
SyntheticTask.run_trial = slow
run_study(sys.argv[1], out=sys.argv[2], shard=parse(sys.argv[3]))
"""


def test_a_killed_share_resumes_alone(prereg_file, reference, tmp_path):
    _, one = reference
    out = tmp_path / "killed"
    log = out / shards.Shard(0, 2).log
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SHARE, str(prereg_file), str(out), "0/2"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not log.exists() or len(log.read_bytes().splitlines()) < 3:
        assert child.poll() is None, "the share ended before it could be killed"
        assert time.monotonic() < deadline, "the share did not get going"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    killed_at = len(read_trials(log)[0])
    assert 3 <= killed_at < 20
    assert run_share(prereg_file, out, 1, 2) is None  # share 0/2 is unfinished: no report yet
    share_1 = (out / shards.Shard(1, 2).log).read_bytes()
    assert run_share(prereg_file, out, 0, 2) == out / "report.md"
    assert (out / shards.Shard(1, 2).log).read_bytes() == share_1  # the other share was left alone
    assert (out / rundir.TRIALS).read_bytes() == (one / rundir.TRIALS).read_bytes()
    sessions = json.loads((out / shards.Shard(0, 2).sessions).read_text())["sessions"]
    assert [s["trials_before"] for s in sessions] == [0, killed_at]


@pytest.fixture()
def split_run(prereg_file, tmp_path):
    """A finished run split two ways."""
    out = tmp_path / "run"
    for k in (0, 1):
        run_share(prereg_file, out, k, 2)
    return out


def report_errors(run):
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2
    return error_lines(result)


def test_shares_at_different_revisions_are_refused_in_one_line(split_run):
    file = split_run / shards.Shard(1, 2).sessions
    record = json.loads(file.read_text())
    record["sessions"][-1]["git"] = "0" * 40
    file.write_text(json.dumps(record))
    [line] = report_errors(split_run)
    assert line.startswith(f"error: {split_run}: the shares disagree: share 0/2 ran prereg sha256 ")
    assert line.endswith(
        f"share 1/2 ran prereg sha256 {record['sessions'][-1]['sha256'][:12]} with n "
        f"{N_ITEMS} at git {'0' * 40}; rerun every share at one revision"
    )


def test_a_share_run_with_another_prereg_is_refused_until_it_reruns(prereg_file, tmp_path):
    out = tmp_path / "run"
    run_share(prereg_file, out, 0, 2)
    data = example()
    data["sample_size"]["n"] = N_ITEMS
    data["title"] = "Edited while share 0/2 was done"
    edited = write_prereg(tmp_path, data, "edited.yaml")
    with pytest.raises(StudyError, match="changed since trials were recorded"):
        run_share(edited, out, 1, 2)
    with pytest.raises(StudyError) as refused:  # share 1/2 runs, but share 0/2 ran the old prereg
        run_share(edited, out, 1, 2, deviation="retitled")
    [line] = report_errors(out)
    assert refused.value.lines == [line.removeprefix("error: ")]
    assert (
        f"share 0/2 last ran prereg sha256 {sha256(prereg_file.read_bytes())[:12]} with n {N_ITEMS}, "
        f"but the run's prereg is {sha256(edited.read_bytes())[:12]} with n {N_ITEMS}; rerun that share "
        "with the run's prereg" in line
    )
    # its trials are all there: it only records a session
    assert run_share(edited, out, 0, 2) == out / "report.md"
    assert len(read_trials(out / rundir.TRIALS)[0]) == N_ITEMS * 5


def test_overlapping_shares_are_refused_in_one_line(split_run):
    stray = (split_run / shards.Shard(0, 2).log).read_bytes().splitlines(keepends=True)[0]
    with open(split_run / shards.Shard(1, 2).log, "ab") as f:
        f.write(stray)
    [line] = report_errors(split_run)
    assert line == (
        f"error: {split_run / shards.Shard(1, 2).log}: holds item syn-00000 (position 0), which is "
        "share 0/2's: the shares overlap"
    )


def test_files_of_another_split_are_refused(split_run):
    shutil.copy(split_run / shards.Shard(0, 2).log, split_run / shards.Shard(0, 3).log)
    [line] = report_errors(split_run)
    assert line == (
        f"error: {split_run / shards.Shard(0, 3).log}: belongs to a 3-way split, but {split_run} is "
        "split 2 ways; move it out of the run directory"
    )


def test_a_share_log_without_its_sessions_is_refused(split_run):
    (split_run / shards.Shard(1, 2).sessions).unlink()
    assert report_errors(split_run) == [
        f"error: {split_run / shards.Shard(1, 2).log}: has no shard-1-of-2.json "
        "beside it to say what ran it; copy both files of every share"
    ]


def test_a_run_keeps_its_split(prereg_file, split_run):
    with pytest.raises(StudyError, match="holds a run split 2 ways, and this one is not split"):
        run_study(prereg_file, out=split_run)
    with pytest.raises(StudyError, match="holds a run split 2 ways, and this one is split 3 ways"):
        run_study(prereg_file, out=split_run, shard=shards.Shard(0, 3))
    unsplit = split_run.parent / "unsplit"
    run_study(prereg_file, out=unsplit)
    with pytest.raises(StudyError, match="holds a run not split, and this one is split 2 ways"):
        run_study(prereg_file, out=unsplit, shard=shards.Shard(0, 2))


def test_an_edited_split_smoke_run_is_refused_not_set_aside(prereg_file, tmp_path):
    out = tmp_path / "smoke"
    run_study(prereg_file, out=out, limit=3, shard=shards.Shard(0, 2))
    data = example()
    data["title"] = "Edited after share 0/2 ran"
    edited = write_prereg(tmp_path, data, "edited.yaml")
    with pytest.raises(StudyError, match="changed since trials were recorded"):
        run_study(edited, out=out, limit=3, shard=shards.Shard(1, 2))
    # items 0 and 2, left where they were
    assert len(read_trials(out / shards.Shard(0, 2).log)[0]) == 2 * 5


def test_a_share_already_running_is_refused(prereg_file, split_run):
    shard = shards.Shard(1, 2)
    with (
        rundir.locked(split_run, shard.lock),
        pytest.raises(StudyError, match="another process is running share 1/2 of this run"),
    ):
        run_study(prereg_file, out=split_run, shard=shard)
