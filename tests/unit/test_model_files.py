"""What a model folder may hold: a packaged model's files and code/, nothing else."""

import os

import pytest

from inference.model_files import DATA_FILES, unexpected_entries


@pytest.fixture
def model(tmp_path):
    """A folder laid out as `sm-detect package` writes one (the bytes do not matter here)."""
    for name in DATA_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / "code" / "inference").mkdir(parents=True)
    (tmp_path / "code" / "inference" / "handler.py").write_text("")
    (tmp_path / "code" / "requirements.txt").write_text("")
    return tmp_path


def test_a_packaged_model_holds_nothing_unexpected(model):
    assert unexpected_entries(str(model)) == []


@pytest.mark.parametrize(
    "planted",
    ["sitecustomize.py", "MANIFEST.json", "MAR-INF/MANIFEST.json", "inference/__init__.py"],
)
def test_anything_else_is_named(model, planted):
    (model / planted).parent.mkdir(parents=True, exist_ok=True)
    (model / planted).write_text("")
    assert unexpected_entries(str(model)) == [planted.split("/")[0]]


def test_links_are_named_wherever_they_are(model, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "weights"
    elsewhere.write_text("")
    (model / "model-0000.params").unlink()
    (model / "model-0000.params").symlink_to(elsewhere)
    (model / "code" / "inference" / "linked.py").symlink_to(elsewhere)
    (model / "code" / "folder").symlink_to(elsewhere.parent)
    assert sorted(unexpected_entries(str(model))) == [
        os.path.join("code", "folder"),
        os.path.join("code", "inference", "linked.py"),
        "model-0000.params",
    ]


def test_a_device_or_a_pipe_is_named(model):
    os.mkfifo(model / "code" / "pipe")
    assert unexpected_entries(str(model)) == [os.path.join("code", "pipe")]
