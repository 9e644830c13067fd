"""Autoscaling: more instances under load, and for asynchronous endpoints none when idle.

A real-time endpoint tracks SageMaker's invocations per instance. An asynchronous endpoint
queues its requests, so it tracks the queue instead (``ApproximateBacklogSizePerInstance``)
and may scale to zero instances; from zero, a target-tracking policy has nothing to divide by,
so, as AWS documents it, a step policy on the ``HasBacklogWithoutCapacity`` alarm adds the
first instance when requests wait and no instance is there to take them.
"""

from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.cloud.endpoint import VARIANT
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SAGEMAKER_METRICS = "AWS/SageMaker"


def resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def wake_alarm_name(endpoint: str) -> str:
    return f"{endpoint}-has-backlog-without-capacity"


def is_async(aws: Aws, endpoint: str) -> bool:
    """Whether ``endpoint``'s configuration has an AsyncInferenceConfig."""
    sagemaker = aws.client("sagemaker")
    described = get_or_none(sagemaker.describe_endpoint, EndpointName=endpoint)
    if described is None:
        raise CommandError(f"there is no endpoint {endpoint} to scale")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    return bool(config.get("AsyncInferenceConfig"))


def scale(
    aws: Aws,
    endpoint: str,
    minimum: int,
    maximum: int,
    target_invocations: float = 100,
    target_backlog: float = 5,
    cooldown_seconds: int = 300,
    asynchronous: bool | None = None,
) -> list[str]:
    """Scale ``endpoint`` between ``minimum`` and ``maximum`` instances; returns the policies.

    ``asynchronous`` None: ask SageMaker (a dry run, which asks nothing, needs it given).
    """
    if not 0 <= minimum <= maximum or maximum < 1:
        raise CommandError(
            f"the fewest instances must be 0 or more, the most 1 or more and no fewer: got "
            f"{minimum} and {maximum}"
        )
    if asynchronous is None:
        asynchronous = is_async(aws, endpoint)
    if minimum == 0 and not asynchronous:
        raise CommandError(
            f"{endpoint} is a real-time endpoint, which needs an instance to answer: only an "
            "asynchronous endpoint can scale to zero",
            remedy="async_output",
        )
    autoscaling = aws.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(endpoint),
        "ScalableDimension": SCALABLE_DIMENSION,
    }
    autoscaling.register_scalable_target(**target, MinCapacity=minimum, MaxCapacity=maximum)
    cooldowns = {"ScaleInCooldown": cooldown_seconds, "ScaleOutCooldown": cooldown_seconds // 5}
    if asynchronous:
        metric = {
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": SAGEMAKER_METRICS,
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Statistic": "Average",
            },
            "TargetValue": float(target_backlog),
        }
        aim = f"{target_backlog} queued requests per instance"
    else:
        metric = {
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "TargetValue": float(target_invocations),
        }
        aim = f"{target_invocations} invocations per instance per minute"
    tracking = f"{endpoint}-{'backlog' if asynchronous else 'invocations'}-per-instance"
    autoscaling.put_scaling_policy(
        PolicyName=tracking,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**metric, **cooldowns},
        **target,
    )
    policies = [tracking]
    if minimum == 0:
        policies.append(wake_from_zero(aws, endpoint, target, cooldown_seconds))
    say(
        ("[dry run] would scale " if aws.dry_run else "")
        + f"{endpoint}: {minimum} to {maximum} instances, target {aim}"
        + ("; the first instance starts when requests wait at zero" if minimum == 0 else "")
    )
    return policies


def wake_from_zero(aws: Aws, endpoint: str, target: dict[str, str], cooldown_seconds: int) -> str:
    """A step policy adding one instance, and the alarm that calls it."""
    name = f"{endpoint}-wake-from-zero"
    created = aws.client("application-autoscaling").put_scaling_policy(
        PolicyName=name,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": cooldown_seconds,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
        },
        **target,
    )
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=wake_alarm_name(endpoint),
        AlarmDescription=f"requests wait for {endpoint} and no instance runs: start one",
        MetricName="HasBacklogWithoutCapacity",
        Namespace=SAGEMAKER_METRICS,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
        AlarmActions=[created.get("PolicyARN", "POLICY_ARN")],
    )
    return name


def remove(aws: Aws, endpoint: str) -> None:
    """Stop scaling ``endpoint``: its scalable target (and with it its policies), its alarm."""
    autoscaling = aws.client("application-autoscaling")
    registered = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id(endpoint)]
    ).get("ScalableTargets", [])
    if registered:
        autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id(endpoint),
            ScalableDimension=SCALABLE_DIMENSION,
        )
        say(f"stopped autoscaling {endpoint}")
    alarm = wake_alarm_name(endpoint)
    cloudwatch = aws.client("cloudwatch")
    if cloudwatch.describe_alarms(AlarmNames=[alarm]).get("MetricAlarms"):
        cloudwatch.delete_alarms(AlarmNames=[alarm])
        say(f"deleted alarm {alarm}")
