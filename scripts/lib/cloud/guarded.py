"""Guarded updates: the new model is brought up beside the old one (blue/green), traffic moves to
it in one canary step or in equal linear steps, and SageMaker moves it back by itself if a
CloudWatch alarm fires while it waits (UpdateEndpoint's DeploymentConfig).

Without alarms of the user's, two per production variant are made: any invocation 5xx error in a
minute, and the model's average latency above a bound for a minute. They watch the variant's
metrics, which the new fleet's answers join as soon as it takes traffic.
"""

import dataclasses
from collections.abc import Iterable
from typing import Any

from scripts.lib import progress
from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.endpoint_status import SETTLED, describe
from scripts.lib.cloud.names import TAG_KEY
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

CANARY, LINEAR = "CANARY", "LINEAR"
SAGEMAKER_METRICS = "AWS/SageMaker"
DEFAULT_LATENCY_ALARM_MS = 5000
ROLLED_BACK_STATES = {"UpdateRollbackFailed"}


def alarm_prefix(endpoint: str) -> str:
    """Every alarm made for ``endpoint`` begins so (no other endpoint's name can follow it)."""
    return f"sm-detect/{endpoint}/"


@dataclasses.dataclass(frozen=True)
class GuardedUpdate:
    kind: str  # CANARY: one step of ``percent``, then the rest; LINEAR: steps of ``percent``
    percent: int  # of the new fleet's capacity
    wait_seconds: int  # how long each step bakes before the next
    alarms: tuple[str, ...] = ()  # CloudWatch alarm names; none: deploy makes its own
    latency_alarm_ms: int = DEFAULT_LATENCY_ALARM_MS

    def deployment_config(self, alarms: Iterable[str]) -> dict[str, Any]:
        """UpdateEndpoint's DeploymentConfig: blue/green, shifted so, rolled back on ``alarms``."""
        size = {"Type": "CAPACITY_PERCENT", "Value": self.percent}
        routing: dict[str, Any] = {"Type": self.kind, "WaitIntervalInSeconds": self.wait_seconds}
        routing["CanarySize" if self.kind == CANARY else "LinearStepSize"] = size
        return {
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
        }

    def describe(self, instance_count: int) -> str:
        """How the traffic will move, in words; a step is at least one instance."""
        step = max(1, -(-instance_count * self.percent // 100))
        share = min(100, 100 * step // instance_count)
        if self.kind == CANARY:
            return (
                f"canary: {step} of {instance_count} new instance(s) ({share}% of requests) for "
                f"{self.wait_seconds} s, then all of them"
            )
        return (
            f"linear: {step} more new instance(s) ({share}% of requests) every "
            f"{self.wait_seconds} s"
        )


def default_alarms(
    aws: Aws,
    endpoint: str,
    variant_names: Iterable[str],
    latency_ms: float = DEFAULT_LATENCY_ALARM_MS,
) -> list[str]:
    """Make (or remake) the two alarms per variant that roll an update back; their names."""
    cloudwatch = aws.client("cloudwatch")
    names = []
    for variant in variant_names:
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ]
        for suffix, metric, statistic, threshold, meaning in (
            ("5xx", "Invocation5XXErrors", "Sum", 1.0, "any invocation answered 5xx"),
            (
                "latency",
                "ModelLatency",
                "Average",
                latency_ms * 1000.0,  # ModelLatency is in microseconds
                f"model latency averaged over {latency_ms} ms",
            ),
        ):
            name = f"{alarm_prefix(endpoint)}{variant}/{suffix}"
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=f"{endpoint}/{variant}: {meaning} in a minute: roll back",
                Namespace=SAGEMAKER_METRICS,
                MetricName=metric,
                Dimensions=dimensions,
                Statistic=statistic,
                Period=60,
                EvaluationPeriods=1,
                Threshold=threshold,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
                Tags=[{"Key": TAG_KEY, "Value": endpoint}],
            )
            names.append(name)
    say(f"rollback alarms: {', '.join(names)}")
    return names


def remove_alarms(aws: Aws, endpoint: str) -> None:
    """Delete the alarms ``default_alarms`` made for ``endpoint``."""
    cloudwatch = aws.client("cloudwatch")
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=alarm_prefix(endpoint)
    )
    names = [alarm["AlarmName"] for page in pages for alarm in page.get("MetricAlarms", [])]
    for start in range(0, len(names), 100):  # DeleteAlarms takes at most 100
        cloudwatch.delete_alarms(AlarmNames=names[start : start + 100])
    for name in names:
        say(f"deleted alarm {name}")


def phases(described: dict[str, Any]) -> dict[tuple[str, str], str]:
    """{(variant, status): message} of an update in progress (its PendingDeploymentSummary)."""
    pending = described.get("PendingDeploymentSummary") or {}
    found = {}
    for variant in pending.get("ProductionVariants", []) + pending.get(
        "ShadowProductionVariants", []
    ):
        for status in variant.get("VariantStatus", []):
            found[(variant["VariantName"], status["Status"])] = status.get("StatusMessage", "")
    return found


def watch(
    aws: Aws,
    endpoint: str,
    new_config: str,
    poll_seconds: float = 30,
    timeout_seconds: float = 4 * 3600,
) -> None:
    """Follow a guarded update until it ends, saying each phase as it starts; a rollback, or an
    update that failed, ends in a ``CommandError`` saying so."""

    seen: set[tuple[str, str]] = set()
    described: dict[str, Any] = {}

    def read_status() -> str:
        described.clear()
        described.update(describe(aws, endpoint) or {})
        for (variant, phase), message in sorted(phases(described).items()):
            if (variant, phase) not in seen:
                seen.add((variant, phase))
                say(f"    {variant}: {phase}" + (f" ({message})" if message else ""))
        return described.get("EndpointStatus", "Missing")

    try:
        status = progress.watch(
            f"endpoint {endpoint}",
            read_status,
            SETTLED | ROLLED_BACK_STATES | {"Missing"},
            poll_seconds,
            timeout_seconds,
        )
    except TimeoutError as error:
        raise CommandError(str(error)) from None
    reason = described.get("FailureReason")
    if status != "InService":
        raise CommandError(
            f"the update of {endpoint} ended {status}: {reason or 'no reason given'}"
        )
    serving = described.get("EndpointConfigName")
    if serving != new_config:
        raise CommandError(
            f"SageMaker rolled the update of {endpoint} back: it still serves {serving}, not "
            f"{new_config} ({reason or 'a rollback alarm fired'})"
        )
    say(f"endpoint {endpoint} serves {new_config}")
