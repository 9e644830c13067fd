"""SageMaker endpoints: create or update in place, wait with progress, tear down what we made.

Every model and endpoint configuration gets a unique name and the tag ``sm-detect:endpoint``,
so teardown finds exactly what was created for an endpoint, and nothing else.
"""

import time

from botocore.exceptions import ClientError

from scripts.lib import roles
from scripts.lib.aws import is_not_found
from scripts.lib.errors import CommandError
from scripts.lib.progress import say, watch

TAG_KEY = "sm-detect:endpoint"
VARIANT = "AllTraffic"
SETTLED = {"InService", "Failed", "OutOfService"}


def unique_name(base, suffix=""):
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{base[: 63 - len(stamp) - len(suffix) - 1]}{suffix}-{stamp}"


def invoke_url(region, endpoint):
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/invocations"


def describe(aws, endpoint):
    """The endpoint's description, or None when there is no such endpoint."""
    try:
        described = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    return described if described.get("EndpointStatus") else None


def production_variant(model_name, instance_type, instance_count, serverless):
    variant = {"VariantName": VARIANT, "ModelName": model_name}
    if serverless:
        memory, concurrency = serverless
        variant["ServerlessConfig"] = {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}
    else:
        variant.update(InstanceType=instance_type, InitialInstanceCount=instance_count)
    return variant


def deploy(
    aws,
    endpoint,
    model_data,
    image,
    role=None,
    instance_type="ml.c5.xlarge",
    instance_count=1,
    serverless=None,
    environment=None,
    poll_seconds=30,
):
    """Create (or update in place) ``endpoint`` serving ``image`` with ``model_data``."""
    sagemaker = aws.client("sagemaker")
    if not role and aws.dry_run:
        role = "ROLE_ARN"
        say("[dry run] would look for a role SageMaker can assume (iam.list_roles): ROLE_ARN")
    elif not role:
        role = roles.find_execution_role(aws)
        say(f"execution role: {role}")
    tags = [{"Key": TAG_KEY, "Value": endpoint}]
    model_name = unique_name(endpoint)
    sagemaker.create_model(
        ModelName=model_name,
        ExecutionRoleArn=role,
        Tags=tags,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": model_data,
            "Environment": dict(environment or {}),
        },
    )
    config_name = unique_name(endpoint, "-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        Tags=tags,
        ProductionVariants=[
            production_variant(model_name, instance_type, instance_count, serverless)
        ],
    )
    if aws.dry_run:
        say(f"[dry run] would update endpoint {endpoint} in place if it exists, else create it:")
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags)
        say(f"[dry run] would wait until {endpoint} is InService")
    elif describe(aws, endpoint):
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        say(f"updating endpoint {endpoint} in place with {config_name}")
        wait_in_service(aws, endpoint, poll_seconds)
    else:
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags)
        say(f"creating endpoint {endpoint} with {config_name}")
        wait_in_service(aws, endpoint, poll_seconds)
    say(f"invoke URL: {invoke_url(aws.region, endpoint)}")
    say(f"try it:     sm-detect invoke --endpoint {endpoint} --region {aws.region} IMAGE")
    return model_name, config_name


def wait_in_service(aws, endpoint, poll_seconds=30, timeout_seconds=3600):
    """Poll until the endpoint settles; Failed ends in SageMaker's FailureReason."""
    described = {}

    def read_status():
        described.clear()
        described.update(describe(aws, endpoint) or {})
        return described.get("EndpointStatus", "Missing")

    try:
        status = watch(endpoint, read_status, SETTLED | {"Missing"}, poll_seconds, timeout_seconds)
    except TimeoutError as error:
        raise CommandError(str(error)) from None
    if status != "InService":
        reason = described.get("FailureReason", "no reason given")
        raise CommandError(f"endpoint {endpoint} is {status}: {reason}")


def tagged_resources(aws, endpoint):
    """(model names, endpoint config names) this tool created for ``endpoint``."""
    sagemaker = aws.client("sagemaker")

    def ours(arn):
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


def teardown(aws, endpoint):
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


def plan_teardown(endpoint, everything):
    """What ``teardown`` would delete, said without asking AWS (a dry run makes no reads)."""
    from scripts.lib.public_api import plan_removal

    targets = [
        *plan_removal(endpoint),
        f"endpoint {endpoint}, if it exists",
        f"every endpoint configuration tagged {TAG_KEY}={endpoint}",
        f"every model tagged {TAG_KEY}={endpoint}",
    ]
    if everything:
        targets += [
            "the model archives in S3 that those models name (ModelDataUrl)",
            "the ECR repositories of their images (images in other registries are left alone)",
        ]
    say("[dry run] would delete:")
    for target in targets:
        say(f"[dry run]   {target}")
