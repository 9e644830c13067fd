"""SageMaker endpoints: create or update in place, wait with progress, tear down what we made.

Every model and endpoint configuration gets a unique name and the tag ``sm-detect:endpoint``,
so teardown finds exactly what was created for an endpoint, and nothing else.
"""

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from inference.sources import BUCKETS_VARIABLE
from scripts.lib.cloud import guarded, roles, variants
from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.endpoint_status import describe, wait_in_service
from scripts.lib.cloud.names import TAG_KEY
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

DEFAULT_INSTANCE_TYPE = "ml.c5.xlarge"
VARIANT = variants.DEFAULT_VARIANT
# SageMaker lets an asynchronous request be up to 1 GB; the container takes 128 MB. An image the
# decoder accepts (SM_DETECT_MAX_PIXELS, 40 million pixels) is at most 120 MB even stored
# uncompressed (BMP, TIFF, NPY), and every body is held in memory while it is read and decoded.
ASYNC_MAX_PAYLOAD_MB = 128
# captured answers in these types are stored as text; images (requests and drawn answers) are
# stored as they were sent, base64-encoded, which is what `sm-detect captures` reads back
CAPTURED_AS_TEXT = ["application/json", "application/jsonlines"]


def unique_name(base: str, suffix: str = "") -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{base[: 63 - len(stamp) - len(suffix) - 1]}{suffix}-{stamp}"


def runtime_url(region: str | None) -> str:
    """SageMaker's runtime (where InvokeEndpoint goes) in ``region``."""
    return f"https://runtime.sagemaker.{region}.amazonaws.com"


def invocations_url(endpoint: str, region: str | None = None, base: str | None = None) -> str:
    """InvokeEndpoint's URL, at SageMaker's runtime in ``region`` or at another ``base``."""
    return f"{(base or runtime_url(region)).rstrip('/')}/endpoints/{endpoint}/invocations"


def async_inference_config(
    output: str,
    failure: str | None = None,
    max_concurrency: int | None = None,
    success_topic: str | None = None,
    error_topic: str | None = None,
) -> dict[str, Any]:
    """SageMaker's AsyncInferenceConfig: where answers and failures go, who is told."""
    output_config: dict[str, Any] = {"S3OutputPath": output}
    if failure:
        output_config["S3FailurePath"] = failure
    topics = {"SuccessTopic": success_topic, "ErrorTopic": error_topic}
    if any(topics.values()):
        output_config["NotificationConfig"] = {k: v for k, v in topics.items() if v}
    config: dict[str, Any] = {"OutputConfig": output_config}
    if max_concurrency:
        config["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": max_concurrency}
    return config


def data_capture_config(destination: str, percent: float = 100) -> dict[str, Any]:
    """SageMaker's DataCaptureConfig: requests and answers, ``percent`` of them, to S3."""
    if not 0 < percent <= 100:
        raise CommandError(f"the capture percentage must be above 0 and at most 100, not {percent}")
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": CAPTURED_AS_TEXT},
    }


def container_environment(
    endpoint: str,
    environment: Mapping[str, str] | None,
    asynchronous: bool,
    variant: str = VARIANT,
) -> dict[str, str]:
    """The container's environment: the user's, with what the server should know of its place.

    The endpoint and variant name the server's CloudWatch metrics; an asynchronous endpoint
    takes larger bodies, unless the user chose a limit.
    """
    settings = {"SM_DETECT_ENDPOINT_NAME": endpoint, "SM_DETECT_VARIANT_NAME": variant}
    if asynchronous:
        settings["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(ASYNC_MAX_PAYLOAD_MB)
    return {**settings, **(environment or {})}


@dataclasses.dataclass(frozen=True)
class DeploySpec:
    """One endpoint as `deploy` and `up` describe it: what serves, on what, and around it.

    ``model_data``: an s3:// archive, served as the endpoint's one variant, or
    ``variants.Variant``s, each a model with its share of the traffic. ``shadow``
    (``variants.Shadow``) answers copies of the requests, captured, never returned.
    ``async_inference`` (``async_inference_config()``) makes it asynchronous; ``data_capture``
    (``data_capture_config()``) records its traffic in S3; ``multi_model``: each archive is an
    S3 prefix of archives, each loaded when a request names it (``TargetModel``).
    ``guarded_update`` (``guarded.GuardedUpdate``) replaces a serving endpoint's fleet beside the
    old one, rolled back on an alarm. ``s3_input``: the buckets requests may name images in.
    """

    endpoint: str
    model_data: str | tuple[variants.Variant, ...]
    image: str
    role: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    serverless: tuple[int, int] | None = None  # (memory in MB, max concurrency)
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    poll_seconds: float = 30
    async_inference: dict[str, Any] | None = None
    data_capture: dict[str, Any] | None = None
    multi_model: bool = False
    shadow: variants.Shadow | None = None
    guarded_update: guarded.GuardedUpdate | None = None
    s3_input: tuple[str, ...] = ()

    @property
    def single(self) -> bool:
        return isinstance(self.model_data, str)

    @property
    def production(self) -> list[variants.Variant]:
        if isinstance(self.model_data, str):
            return [variants.Variant(VARIANT, 1.0, self.model_data)]
        return list(self.model_data)

    def check(self) -> None:
        """What SageMaker would refuse, refused before any call."""
        variants.check(self.production, self.shadow)
        if self.multi_model and (self.serverless or self.async_inference):
            raise CommandError("a multi-model endpoint is real-time, on instances")
        if self.async_inference and self.serverless:
            raise CommandError(
                "an asynchronous endpoint runs on instances, not serverless: drop --serverless"
            )
        if self.serverless and (self.shadow or self.guarded_update):
            raise CommandError("shadow tests and guarded updates run on instances, not serverless")
        if self.shadow and not self.data_capture:
            raise CommandError(
                "a shadow test is read from both variants' captured answers: add --data-capture "
                "s3://BUCKET/PREFIX"
            )


def deploy(aws: Aws, spec: DeploySpec) -> str:
    """Create ``spec``'s endpoint, or update it (in place, or guarded); returns its endpoint
    configuration's name."""
    spec.check()
    endpoint, image, single, production = spec.endpoint, spec.image, spec.single, spec.production
    role, environment = spec.role, dict(spec.environment)
    sagemaker = aws.client("sagemaker")
    if not role and aws.dry_run:
        role = "ROLE_ARN"
        say("[dry run] would look for a role SageMaker can assume (iam.list_roles): ROLE_ARN")
    elif not role:
        role = roles.find_execution_role(aws)
        say(f"execution role: {role}")
    if spec.s3_input:
        roles.grant_s3_input(aws, role, spec.s3_input)
        environment[BUCKETS_VARIABLE] = ",".join(sorted(spec.s3_input))
        buckets = ", s3://".join(sorted(spec.s3_input))
        say(f"images may be read from s3://{buckets} (role granted)")
    tags = [{"Key": TAG_KEY, "Value": endpoint}]

    def create_model(variant: str, archive: str) -> str:
        # one model per variant, each its own name: SageMaker refuses a second CreateModel of a
        # name (moto overwrites it silently)
        alone = single and variant == VARIANT
        name = unique_name(endpoint) if alone else unique_name(endpoint, f"-{variant}")
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            Tags=tags,
            PrimaryContainer={
                "Image": image,
                "ModelDataUrl": archive,
                "Environment": container_environment(
                    endpoint, environment, bool(spec.async_inference), variant
                ),
                **({"Mode": "MultiModel"} if spec.multi_model else {}),
            },
        )
        return name

    sizing = (spec.instance_type, spec.instance_count, spec.serverless)
    config: dict[str, Any] = {
        "ProductionVariants": [
            variants.production_variant(
                v.name, create_model(v.name, v.model_data), v.weight, *sizing
            )
            for v in production
        ]
    }
    shadow = spec.shadow
    if shadow:
        weight = variants.shadow_weight(production[0].weight, shadow.percent)
        config["ShadowProductionVariants"] = [
            variants.production_variant(
                shadow.name, create_model(shadow.name, shadow.model_data), weight, *sizing
            )
        ]
    if spec.async_inference:
        config["AsyncInferenceConfig"] = spec.async_inference
    if spec.data_capture:
        config["DataCaptureConfig"] = spec.data_capture
    config_name = unique_name(endpoint, "-config")
    sagemaker.create_endpoint_config(EndpointConfigName=config_name, Tags=tags, **config)
    if not single:
        say(
            "traffic: " + ", ".join(f"{n} {p:.0f}%" for n, p in variants.shares(production).items())
        )
    if shadow:
        say(f"shadow: {shadow.name} answers a copy of {shadow.percent}% of the requests")
    exists = aws.dry_run or describe(aws, endpoint)
    if spec.guarded_update:
        if not exists:
            raise CommandError(
                f"a guarded update replaces a serving endpoint, and {endpoint} does not exist: "
                "deploy it first, without --canary or --linear"
            )
        update_guarded(
            aws,
            endpoint,
            config_name,
            production,
            spec.instance_count,
            spec.guarded_update,
            spec.poll_seconds,
        )
    elif aws.dry_run:
        say(f"[dry run] would update endpoint {endpoint} in place if it exists, else create it:")
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags)
        say(f"[dry run] would wait until {endpoint} is InService")
    elif exists:
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        say(f"updating endpoint {endpoint} in place with {config_name}")
        wait_in_service(aws, endpoint, spec.poll_seconds)
    else:
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags)
        say(f"creating endpoint {endpoint} with {config_name}")
        wait_in_service(aws, endpoint, spec.poll_seconds)
    say(f"invoke URL: {invocations_url(endpoint, aws.region)}")
    target = " --target-model NAME.tar.gz" if spec.multi_model else ""
    if not single:
        target += f" [--target-variant {production[0].name}]"
    say(f"try it:     sm-detect invoke --endpoint {endpoint} --region {aws.region}{target} IMAGE")
    return config_name


def update_guarded(
    aws: Aws,
    endpoint: str,
    config_name: str,
    production: list[variants.Variant],
    instance_count: int,
    update: guarded.GuardedUpdate,
    poll_seconds: float,
) -> None:
    """UpdateEndpoint blue/green, with its rollback alarms; followed until it ends."""
    alarms = list(update.alarms) or guarded.default_alarms(
        aws, endpoint, [variant.name for variant in production], update.latency_alarm_ms
    )
    aws.client("sagemaker").update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=config_name,
        DeploymentConfig=update.deployment_config(alarms),
    )
    say(
        f"updating endpoint {endpoint} blue/green with {config_name}: "
        f"{update.describe(instance_count)}; rolled back if {', '.join(alarms)} fires"
    )
    if not aws.dry_run:
        guarded.watch(aws, endpoint, config_name, poll_seconds)


def tagged_resources(aws: Aws, endpoint: str) -> tuple[list[str], list[str]]:
    """(model names, endpoint config names) this tool created for ``endpoint``."""
    sagemaker = aws.client("sagemaker")

    def ours(arn: str) -> bool:
        tags = sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
        return {"Key": TAG_KEY, "Value": endpoint} in tags

    models = [
        m["ModelName"]
        for page in sagemaker.get_paginator("list_models").paginate(NameContains=endpoint)
        for m in page.get("Models", [])
        if ours(m["ModelArn"])
    ]
    configs = [
        c["EndpointConfigName"]
        for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=endpoint)
        for c in page.get("EndpointConfigs", [])
        if ours(c["EndpointConfigArn"])
    ]
    return models, configs


def teardown(aws: Aws, endpoint: str) -> list[dict[str, Any]]:
    """Delete the endpoint and the models and configs made for it.

    Returns the deleted models' containers (image and model data), for ``teardown --all``.
    """
    sagemaker = aws.client("sagemaker")
    models, configs = tagged_resources(aws, endpoint)
    containers = [
        sagemaker.describe_model(ModelName=name).get("PrimaryContainer", {}) for name in models
    ]
    if describe(aws, endpoint):
        sagemaker.delete_endpoint(EndpointName=endpoint)
        say(f"deleted endpoint {endpoint}")
    else:
        say(f"no endpoint {endpoint}")
    for name in configs:
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
        say(f"deleted endpoint config {name}")
    for name in models:
        sagemaker.delete_model(ModelName=name)
        say(f"deleted model {name}")
    return containers
