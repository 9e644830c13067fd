"""An endpoint's status: described, or waited on until it settles. Below ``endpoint`` and the
rollouts it runs (``guarded``, ``variants``), which all read it."""

from typing import Any

from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.progress import wait_until_settled

SETTLED = {"InService", "Failed", "OutOfService"}


def describe(aws: Aws, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's description, or None when there is no such endpoint."""
    described = get_or_none(aws.client("sagemaker").describe_endpoint, EndpointName=endpoint)
    return described if described and described.get("EndpointStatus") else None


def wait_in_service(
    aws: Aws, endpoint: str, poll_seconds: float = 30, timeout_seconds: float = 3600
) -> None:
    """Poll until the endpoint settles; Failed ends in SageMaker's FailureReason."""
    wait_until_settled(
        f"endpoint {endpoint}",
        lambda: describe(aws, endpoint),
        "EndpointStatus",
        "InService",
        SETTLED | {"Missing"},
        poll_seconds,
        timeout_seconds,
    )
