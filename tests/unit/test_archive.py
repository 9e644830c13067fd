import hashlib
import io
import os
import tarfile

import pytest

from scripts.lib.archives import archive
from scripts.lib.errors import CommandError


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def make_model_dir(root):
    (root / "code" / "inference").mkdir(parents=True)
    (root / "model.json").write_text('{"name": "m"}')
    (root / "model-0000.params").write_bytes(os.urandom(1000))
    (root / "code" / "inference" / "__init__.py").write_text("")
    return root


def test_archives_are_reproducible(tmp_path):
    model_dir = make_model_dir(tmp_path / "model")
    first = archive.write_archive(str(model_dir), str(tmp_path / "a.tar.gz"))
    os.utime(model_dir / "model.json", (1, 1))  # timestamps must not matter
    second = archive.write_archive(str(model_dir), str(tmp_path / "b.tar.gz"))
    assert sha256(first) == sha256(second)


def test_round_trip(tmp_path):
    model_dir = make_model_dir(tmp_path / "model")
    packed = archive.write_archive(str(model_dir), str(tmp_path / "model.tar.gz"))
    with tarfile.open(packed) as tar:
        assert "model.json" in tar.getnames()  # contents at the top, as SageMaker expects
    archive.safe_extract(packed, str(tmp_path / "out"))
    assert (tmp_path / "out" / "model-0000.params").read_bytes() == (
        model_dir / "model-0000.params"
    ).read_bytes()


def hostile_archive(path, member):
    with tarfile.open(path, "w:gz") as tar:
        safe = tarfile.TarInfo("model.json")
        safe.size = 2
        tar.addfile(safe, io.BytesIO(b"{}"))
        if member.isreg():
            tar.addfile(member, io.BytesIO(b"x" * member.size))
        else:
            tar.addfile(member)
    return str(path)


def member(name, kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "bad",
    [
        member("../escaped"),
        member("code/../../escaped"),
        member("/tmp/escaped-absolute"),
        member("link", tarfile.SYMTYPE, "/etc/passwd"),
        member("hard", tarfile.LNKTYPE, "model.json"),
        member("device", tarfile.CHRTYPE),
    ],
)
def test_hostile_members_are_refused_before_anything_is_written(tmp_path, bad):
    packed = hostile_archive(tmp_path / "bad.tar.gz", bad)
    destination = tmp_path / "deep" / "model"
    with pytest.raises(CommandError, match="refusing"):
        archive.safe_extract(packed, str(destination))
    assert not destination.exists()
    assert not (tmp_path / "deep" / "escaped").exists()


def test_not_an_archive(tmp_path):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"not a tar file")
    with pytest.raises(CommandError, match="not a readable model archive"):
        archive.safe_extract(str(path), str(tmp_path / "out"))
