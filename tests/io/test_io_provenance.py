"""provenance: a checkout is dirty when what decides a result changed, not when a report was written."""

import subprocess

from hebbian.io import provenance


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_only_sources_make_a_checkout_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("x = 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    clean = provenance.git_revision(tmp_path)
    assert len(clean) == 40 and "uncommitted" not in clean

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "study.md").write_text("# a report made before its commit\n")
    assert provenance.git_revision(tmp_path) == clean

    (tmp_path / "prereg").mkdir()
    (tmp_path / "prereg" / "new.yaml").write_text("id: new\n")
    assert provenance.git_revision(tmp_path) == f"{clean} + uncommitted changes"
    (tmp_path / "prereg" / "new.yaml").unlink()

    (tmp_path / "src" / "model.py").write_text("x = 2\n")
    assert provenance.git_revision(tmp_path) == f"{clean} + uncommitted changes"


def test_outside_a_checkout_the_revision_is_unknown(tmp_path):
    assert provenance.git_revision(tmp_path).startswith("unknown")


def test_a_snapshot_has_one_shape():
    info = provenance.snapshot()
    assert set(info) == {"git", "versions", "python", "platform"}
    assert list(info["versions"]) == list(provenance.PACKAGES)
    assert provenance.packages({"mlx": "1.0", "numpy": "2.0"}) == "mlx 1.0, numpy 2.0"


def test_the_markdown_section_lists_revision_versions_details_and_config():
    text = provenance.markdown({"seeds": "0..9", "run time": "3 s"}, {"steps": 10})
    lines = text.splitlines()
    assert lines[:2] == ["## Provenance", ""]
    assert lines[2].startswith("- git revision: `") and lines[3].startswith("- packages: mlx ")
    assert "MLX backend " in lines[4]
    assert lines[5:7] == ["- seeds: 0..9", "- run time: 3 s"]
    assert lines[-6:] == ["", "Config:", "", "```", "steps = 10", "```"]
