"""model.tar.gz: written reproducibly, unpacked safely.

The archive is byte-for-byte the same for the same model (sorted entries, zero times and owners),
so an unchanged model is recognised by its checksum. Unpacking refuses absolute paths, ``..``,
links and device files before anything is written: a model archive is untrusted input.
"""

import gzip
import os
import tarfile

from scripts.lib.errors import CommandError


def normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(model_dir: str, output: str) -> str:
    """Pack the contents of ``model_dir`` (not the folder itself) into ``output``."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".partial"
    # level 1: weights barely compress, and level 9 costs seconds for nothing
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for root, dirs, files in os.walk(model_dir):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(root, name)
                arcname = os.path.relpath(path, model_dir)
                if os.path.isdir(path):
                    tar.addfile(normalised(tar.gettarinfo(path, arcname)))
                else:
                    with open(path, "rb") as file:
                        tar.addfile(normalised(tar.gettarinfo(path, arcname)), file)
    os.replace(partial, output)
    return output


def check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise CommandError(f"refusing archive member with an absolute path: {name}")
    if ".." in name.replace("\\", "/").split("/"):
        raise CommandError(f"refusing archive member that leaves the model directory: {name}")
    if not (member.isfile() or member.isdir()):
        raise CommandError(f"refusing archive member that is a link or device: {name}")


def safe_extract(archive: str, destination: str) -> None:
    """Unpack ``archive`` into ``destination`` after checking every member."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            os.makedirs(destination, exist_ok=True)
            # tarfile's own "data" filter as well where Python has it (3.11.4 and later;
            # Debian bookworm's 3.11.2, the image's, has not: the checks above hold there)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(destination, members=members, filter="data")
            else:
                tar.extractall(destination, members=members)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise CommandError(f"{archive} is not a readable model archive: {error}") from None
