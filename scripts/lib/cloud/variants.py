"""Production variants: several models behind one endpoint, each answering its share of the
traffic; a shadow that answers a copy of it, unseen by callers; and the shares changed while
they serve (UpdateEndpointWeightsAndCapacities, no redeployment).

A variant's share is its weight over the sum of the weights. A shadow's share is SageMaker's
ratio of its weight to the production variant's: a shadow weighted 0.25 against 1 is sent a copy
of a quarter of the requests. A shadow test has exactly one production variant.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.endpoint_status import wait_in_service
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

DEFAULT_VARIANT = "AllTraffic"  # SageMaker's name for an endpoint's only variant


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    weight: float
    model_data: str  # s3:// archive


@dataclasses.dataclass(frozen=True)
class Shadow:
    name: str
    model_data: str
    percent: int  # of the production variant's requests copied to it


def check(variants: Sequence[Variant], shadow: Shadow | None = None) -> None:
    """Distinct names, some traffic, and a shadow only beside one production variant."""
    names = [variant.name for variant in variants] + ([shadow.name] if shadow else [])
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CommandError(f"each variant needs its own name: {', '.join(repeated)} came twice")
    if not any(variant.weight > 0 for variant in variants):
        raise CommandError("at least one variant needs a weight above 0, or nothing answers")
    if shadow and len(variants) != 1:
        raise CommandError(
            f"a shadow test has one production variant, not {len(variants)}: the shadow's "
            "answers are compared with its"
        )
    if shadow and not 0 < shadow.percent <= 100:
        raise CommandError(f"--shadow-percent takes 1 to 100, not {shadow.percent}")


def shares(variants: Sequence[Variant]) -> dict[str, float]:
    """{name: percent of the traffic} as the weights give it."""
    total = sum(variant.weight for variant in variants)
    return {variant.name: 100 * variant.weight / total for variant in variants}


def production_variant(
    name: str,
    model_name: str,
    weight: float,
    instance_type: str,
    instance_count: int,
    serverless: tuple[int, int] | None,
) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": name,
        "ModelName": model_name,
        "InitialVariantWeight": weight,
    }
    if serverless:
        memory, concurrency = serverless
        variant["ServerlessConfig"] = {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}
    else:
        variant.update(InstanceType=instance_type, InitialInstanceCount=instance_count)
    return variant


def shadow_weight(production_weight: float, percent: float) -> float:
    """The shadow's InitialVariantWeight for ``percent`` of the production variant's requests."""
    return production_weight * percent / 100


Weights = list[tuple[str, float | None, int | None]]  # (variant, weight, instances)


def current_weights(aws: Aws, endpoint: str) -> tuple[Weights, Weights]:
    """[(variant, current weight, current instances)] of a serving endpoint, production first."""
    described = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    return [
        (v["VariantName"], v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
        for v in described.get("ProductionVariants", [])
    ], [
        (v["VariantName"], v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
        for v in described.get("ShadowProductionVariants", [])
    ]


def show_weights(aws: Aws, endpoint: str) -> None:
    """Say each variant's share of the traffic, and the shadow's share of the copies."""
    production, shadows = current_weights(aws, endpoint)
    total = sum(weight or 0 for _, weight, _ in production) or 1
    for name, weight, count in production:
        share = 100 * (weight or 0) / total
        say(f"{name}: weight {weight:g}, {share:.0f}% of requests, {count} instance(s)")
    if production and shadows:
        base = production[0][1] or 1
        for name, weight, count in shadows:
            say(
                f"{name} (shadow): weight {weight:g}, a copy of "
                f"{100 * (weight or 0) / base:.0f}% of requests, {count} instance(s)"
            )


def set_weights(
    aws: Aws, endpoint: str, weights: Mapping[str, float], poll_seconds: float = 30
) -> None:
    """Shift traffic to ``weights`` ({variant: weight}) and wait until the endpoint serves so."""

    if not aws.dry_run:
        production, _ = current_weights(aws, endpoint)
        now = {name: weight or 0.0 for name, weight, _ in production}
        unknown = sorted(set(weights) - set(now))
        if unknown:
            raise CommandError(
                f"endpoint {endpoint} has no production variant {', '.join(unknown)} "
                f"(it has {', '.join(sorted(now)) or 'none'})"
            )
        if not any(weight > 0 for weight in {**now, **weights}.values()):
            raise CommandError("at least one variant needs a weight above 0, or nothing answers")
    aws.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": name, "DesiredWeight": weight} for name, weight in weights.items()
        ],
    )
    say(f"shifting traffic on {endpoint}: " + ", ".join(f"{n}={w:g}" for n, w in weights.items()))
    if not aws.dry_run:
        wait_in_service(aws, endpoint, poll_seconds)
        show_weights(aws, endpoint)
