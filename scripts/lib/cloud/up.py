"""``up``: package, upload, image, push and deploy, each step skipped when already done."""

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable

from scripts.lib.cloud import push, s3
from scripts.lib.cloud.aws import Aws
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def image_exists(image: str) -> bool:
    for tool in ("docker", "podman", "buildah"):
        if shutil.which(tool):
            check = (
                [tool, "image", "inspect", image]
                if tool != "buildah"
                else [tool, "inspect", "--type", "image", image]
            )
            if subprocess.run(check, capture_output=True).returncode == 0:
                return True
    return False


def build_image(image: str, dry_run: bool) -> None:
    script = os.path.join(REPO, "container", "build-image.sh")
    if dry_run:
        say(f"[dry run] would build {image} with {script}")
        return
    if not os.path.isfile(script):
        raise CommandError(f"{image} is not built and {script} is missing: build the image first")
    if subprocess.run(["bash", script, image], cwd=REPO).returncode != 0:
        raise CommandError(f"building {image} failed")


def archive_holds(archive: str) -> tuple[str, str]:
    """(precision, weights) that an archive's model.json names."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = tar.extractfile("model.json")
            metadata = json.loads(member.read(1 << 20)) if member else None
    except (tarfile.TarError, OSError, KeyError, ValueError):
        metadata = None
    if not isinstance(metadata, dict):
        raise CommandError(f"{archive} is not a model archive (no readable model.json)")
    return str(metadata.get("precision", "fp32")), str(metadata.get("weights", ""))


def check_existing(archive: str, wanted: tuple[str, str]) -> None:
    """``archive`` holds what was asked for, ``wanted`` = (precision, weights), or the run stops:
    an archive of another precision or weights is never deployed in the place of the one asked
    for."""
    precision, weights = wanted
    weights = weights if weights in ("pretrained", "random") else os.path.basename(weights)
    held = archive_holds(archive)
    if held != (precision, weights):
        raise CommandError(
            f"{archive} holds {held[0]} {held[1] or 'unnamed'} weights, not the {precision} "
            f"{weights} weights asked for: give --archive another path to package them, or "
            "remove it"
        )


def up(
    aws: Aws,
    archive: str,
    packaging: tuple[tuple[str, str], Callable[[], object]],
    destination: str,
    create_bucket: bool,
    push_options: tuple[str, str, str, str | None],
    deploy: Callable[[str, str], object],
) -> None:
    """Run each step that is not done yet; ``deploy(model_data, image_uri)`` is the last.

    ``packaging``: ((precision, weights) asked for; a callable that packages them into
    ``archive``), used when the archive is missing, and checked against it when it is there;
    ``push_options``: (image, repository, tag, registry) as ``sm-detect push`` takes them.
    """
    wanted, make_archive = packaging
    described = f"{wanted[1]} weights ({wanted[0]})"
    image = push_options[0]
    if os.path.isfile(archive):
        check_existing(archive, wanted)
        say(f"[1/5] package: {archive} exists and holds {described}, skipped")
    elif aws.dry_run:
        say(f"[1/5] package: [dry run] would package {described} into {archive}")
    else:
        say(f"[1/5] package: {archive}")
        make_archive()
    say("[2/5] upload")
    model_data = s3.upload(aws, archive, destination, create_bucket)
    if image_exists(image):
        say(f"[3/5] image: {image} exists, skipped")
    else:
        say(f"[3/5] image: building {image}")
        build_image(image, aws.dry_run)
    say("[4/5] push")
    image_uri = push.push(aws, *push_options)
    say("[5/5] deploy")
    deploy(model_data, image_uri)
