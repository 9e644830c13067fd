"""The one way to reach AWS: clients from the standard credential chain, retries, clear errors.

Credentials, region and profile come only from boto3's chain (environment, config files, SSO,
instance role); ``AWS_ENDPOINT_URL`` points every client at a stand-in such as moto. Throttling
is retried with backoff by botocore's adaptive retry mode. With ``dry_run`` no call is made: each
one is printed, with its arguments, and answered with an empty response. boto3 is imported
when a client is first needed, so that ``--help`` and the serving image do without it.
"""

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.config
    import botocore.exceptions

from scripts.lib.errors import CommandError
from scripts.lib.progress import say

RUNTIME = "sagemaker-runtime"
PLACEHOLDER_REGION = "REGION"
PLACEHOLDER_ACCOUNT = "ACCOUNT"
NOT_FOUND_CODES = {
    "404",
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "ResourceNotFoundException",
    "RepositoryNotFoundException",
    "NoSuchEntity",
    "ParameterNotFound",
    "ValidationException",
}


class Aws:
    """Clients for one region and profile; ``clients`` injects prepared ones (botocore Stubber)."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        dry_run: bool = False,
        clients: Mapping[str, Any] | None = None,
        runtime_url: str | None = None,
        runtime_verify: str | bool | None = None,
    ) -> None:
        self.dry_run = dry_run
        # another SageMaker runtime, e.g. `sm-detect gateway` and its certificate; every other
        # service (S3 for asynchronous requests) is reached as usual
        self.runtime_options = {
            key: value
            for key, value in (("endpoint_url", runtime_url), ("verify", runtime_verify))
            if value
        }
        import boto3

        self.session = boto3.Session(region_name=region, profile_name=profile)
        self._clients: dict[str, Any] = dict(clients or {})
        self._placeholders_said: set[str] = set()

    @property
    def region(self) -> str:
        region = self.session.region_name or os.environ.get("AWS_REGION")
        if not region and self.dry_run:
            self.say_placeholder(PLACEHOLDER_REGION, "no AWS region is configured")
            return PLACEHOLDER_REGION
        if not region:
            raise CommandError("no AWS region is configured", remedy="region")
        return region

    def say_placeholder(self, placeholder: str, why: str) -> None:
        if placeholder not in self._placeholders_said:
            self._placeholders_said.add(placeholder)
            say(f"[dry run] {why}: {placeholder} stands for it below")

    def client(self, service: str) -> Any:
        """A boto3 client (untyped: botocore ships no type information)."""
        if service not in self._clients:
            self._clients[service] = (
                DryRunClient(service)
                if self.dry_run
                else self.session.client(
                    service,
                    region_name=self.region,
                    # a caller waits on an invocation: three tries, not ten
                    config=retries(3 if service == RUNTIME else 10),
                    **(self.runtime_options if service == RUNTIME else {}),
                )
            )
        return self._clients[service]

    def account_id(self) -> str:
        if self.dry_run:
            self.say_placeholder(
                PLACEHOLDER_ACCOUNT, "a dry run does not ask AWS for the account id"
            )
            return PLACEHOLDER_ACCOUNT
        return self.client("sts").get_caller_identity()["Account"]


@functools.cache
def retries(max_attempts: int = 10) -> "botocore.config.Config":
    """botocore's adaptive retry mode: throttling is retried with backoff."""
    import botocore.config

    return botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        user_agent_extra="sm-detect/0.1",
    )


class DryRunClient:
    """Prints each call instead of making it (the commands make no reads in a dry run)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        def record(*args: Any, **kwargs: Any) -> dict[str, Any]:
            shown = ", ".join(
                [
                    *map(repr, args),
                    *(f"{k}={json.dumps(v, default=shown_value)}" for k, v in kwargs.items()),
                ]
            )
            say(f"[dry run] {self.service}.{operation}({shown})")
            return {}

        return record


def shown_value(value: object) -> str:
    """How a dry run prints an argument JSON cannot show: bytes by their size, not their text."""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return str(value)


def is_not_found(error: "botocore.exceptions.ClientError") -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "ValidationException":  # SageMaker's "Could not find ..." is a ValidationException
        return "not find" in message.lower() or "does not exist" in message.lower()
    return code in NOT_FOUND_CODES or status == 404


def get_or_none(call: Callable[..., Any], **arguments: Any) -> Any:
    """``call(**arguments)``, or None when AWS answers that there is no such thing."""
    import botocore.exceptions

    try:
        return call(**arguments)
    except botocore.exceptions.ClientError as error:
        if is_not_found(error):
            return None
        raise


def failure(error: BaseException) -> CommandError | None:
    """An AWS failure (botocore's, boto3's) as the one line the user can act on: a
    ``CommandError``, or None for any other exception. The command line asks this once, where
    commands are run."""
    if type(error).__module__.split(".")[0] not in ("botocore", "boto3"):
        return None
    import botocore.exceptions
    from boto3.exceptions import S3UploadFailedError

    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        return CommandError(
            f"{error.operation_name} failed: {details.get('Code', 'Error')}: "
            f"{details.get('Message', error)}"
        )
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return CommandError(
            "no AWS credentials found: configure them with `aws configure`, "
            "`aws sso login`, AWS_PROFILE or an instance role"
        )
    if isinstance(error, botocore.exceptions.SSLError):
        return CommandError(str(error), remedy="ca_bundle")
    if isinstance(error, botocore.exceptions.BotoCoreError | S3UploadFailedError):
        return CommandError(str(error))
    return None
