"""``up``: package, upload, image, push and deploy, each step skipped when already done."""

import os
import shutil
import subprocess

from scripts.lib import registry, s3
from scripts.lib.errors import CommandError
from scripts.lib.packaging import package
from scripts.lib.progress import say

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def image_exists(image):
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


def build_image(image, dry_run):
    script = os.path.join(REPO, "container", "build-image.sh")
    if dry_run:
        say(f"[dry run] bash {script} {image}")
        return
    if not os.path.isfile(script):
        raise CommandError(f"{image} is not built and {script} is missing: build the image first")
    if subprocess.run(["bash", script, image], cwd=REPO).returncode != 0:
        raise CommandError(f"building {image} failed")


def up(aws, args, deploy):
    """Run each step that is not done yet; ``deploy(model_data, image_uri)`` is the last."""
    if os.path.isfile(args.archive):
        say(f"[1/5] package: {args.archive} exists, skipped")
    else:
        say(f"[1/5] package: {args.archive}")
        package(args.weights, args.archive)
    say("[2/5] upload")
    model_data = s3.upload(aws, args.archive, args.s3, args.create_bucket)
    if image_exists(args.image):
        say(f"[3/5] image: {args.image} exists, skipped")
    else:
        say(f"[3/5] image: building {args.image}")
        build_image(args.image, aws.dry_run)
    say("[4/5] push")
    image_uri = registry.push(aws, args.image, args.repository, args.tag, args.registry)
    say("[5/5] deploy")
    return deploy(model_data, image_uri)
