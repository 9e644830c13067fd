"""Push the image to ECR (or any registry) with docker, or buildah where no Docker engine runs.

ECR credentials come from ``get_authorization_token`` and reach the pushing tool through a
private auth file or docker's stdin, never its command line.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable

from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.errors import CommandError
from scripts.lib.progress import say, step

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def docker_engine() -> bool:
    return bool(
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def ensure_repository(aws: Aws, repository: str) -> None:
    ecr = aws.client("ecr")
    if aws.dry_run:
        say(f"[dry run] would create ECR repository {repository} if it does not exist")
        return
    if get_or_none(ecr.describe_repositories, repositoryNames=[repository]) is None:
        ecr.create_repository(
            repositoryName=repository, imageScanningConfiguration={"scanOnPush": True}
        )
        say(f"created ECR repository {repository}")


def ecr_host(aws: Aws) -> str:
    return f"{aws.account_id()}.dkr.ecr.{aws.region}.amazonaws.com"


def ecr_login(aws: Aws) -> tuple[str, str | None]:
    """(registry host, base64 "AWS:password") from ECR."""
    if aws.dry_run:
        say("[dry run] would get a push token from ECR (ecr.get_authorization_token)")
        return ecr_host(aws), None
    data = aws.client("ecr").get_authorization_token().get("authorizationData") or [{}]
    endpoint = data[0].get("proxyEndpoint", f"https://{ecr_host(aws)}")
    return endpoint.removeprefix("https://"), data[0].get("authorizationToken", "")


def run_tool(command: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise CommandError(f"{command[0]} {command[1]} failed: {output[-1]}")


def push(aws: Aws, image: str, repository: str, tag: str, registry: str | None = None) -> str:
    """Push local ``image`` as ``REGISTRY/repository:tag``; returns that URI."""
    if registry:
        host, token = registry, None
    else:
        ensure_repository(aws, repository)
        host, token = ecr_login(aws)
    remote = f"{host}/{repository}:{tag}"
    insecure = host.rsplit(":", 1)[0] in LOOPBACK_HOSTS  # a registry on loopback speaks HTTP
    if aws.dry_run:
        tool = "docker" if docker_engine() else "buildah"
        say(f"[dry run] would push {image} to {remote} with {tool}")
        return remote
    with step(f"pushing {image} to {remote}"):
        if docker_engine():
            if token:
                user, password = base64.b64decode(token).decode().split(":", 1)
                run_tool(
                    ["docker", "login", "--username", user, "--password-stdin", host],
                    stdin=password,
                )
            run_tool(["docker", "tag", image, remote])
            run_tool(["docker", "push", remote])
        else:
            push_with_buildah(image, remote, host, token, insecure)
    return remote


def push_with_buildah(
    image: str, remote: str, host: str, token: str | None, insecure: bool
) -> None:
    if not shutil.which("buildah"):
        raise CommandError("neither a Docker engine nor buildah is available to push the image")
    with tempfile.TemporaryDirectory(prefix="sm-detect-auth-") as folder:
        authfile = os.path.join(folder, "auth.json")
        with open(os.open(authfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
            json.dump({"auths": {host: {"auth": token}} if token else {}}, file)
        run_tool(
            [
                "buildah",
                "push",
                "--quiet",
                "--authfile",
                authfile,
                f"--tls-verify={'false' if insecure else 'true'}",
                image,
                f"docker://{remote}",
            ]
        )


def delete_repositories(aws: Aws, image_uris: Iterable[str]) -> None:
    """Delete the ECR repositories of ``image_uris`` (other registries are left alone)."""
    for uri in sorted(image_uris):
        host, _, name = uri.partition("/")
        if ".dkr.ecr." not in host:
            continue
        repository = name.split("@")[0].rsplit(":", 1)[0]
        if get_or_none(aws.client("ecr").delete_repository, repositoryName=repository, force=True):
            say(f"deleted ECR repository {repository}")
