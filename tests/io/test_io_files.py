"""hebbian.io.files: an atomic write replaces a file whole or leaves the old one as it was."""

import pytest

from hebbian.io.files import replacing, write_atomic


def test_write_atomic_replaces_the_contents_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    assert write_atomic(path, "new text") == path
    assert path.read_text() == "new text"
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.safetensors"
    path.write_text("old")
    with pytest.raises(RuntimeError), replacing(path, ".safetensors") as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".safetensors")
        temporary.write_text("half of the new")
        raise RuntimeError("the writer failed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.safetensors"]


def test_a_write_that_cannot_start_raises_and_creates_nothing(tmp_path):
    with pytest.raises(OSError):
        write_atomic(tmp_path / "missing" / "file.txt", "x")
    assert list(tmp_path.iterdir()) == []
