"""Batch transform: a whole S3 prefix of images through the model, billed while the job runs."""

from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.endpoint import DEFAULT_INSTANCE_TYPE, unique_name
from scripts.lib.progress import say, wait_until_settled


def transform(
    aws: Aws,
    model: str,
    source: str,
    destination: str,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    instance_count: int = 1,
    content_type: str = "application/x-image",
    accept: str = "application/json",
    poll_seconds: float = 30,
    timeout_seconds: float = 24 * 3600,
) -> str:
    """A batch transform job: one result (``<image>.out``) per image under ``source``, in
    ``accept`` (the JSON document, JSON lines or COCO results)."""
    name = unique_name(model, "-batch")
    aws.client("sagemaker").create_transform_job(
        TransformJobName=name,
        ModelName=model,
        # one image per request; the container says so at /execution-parameters too
        BatchStrategy="SingleRecord",
        MaxPayloadInMB=6,
        # a job wants images per second, not the soonest answer to one image
        Environment={"SM_DETECT_TUNING": "throughput"},
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
            "ContentType": content_type,
            "SplitType": "None",
        },
        TransformOutput={
            "S3OutputPath": destination,
            "Accept": accept,
            "AssembleWith": "None",
        },
        TransformResources={"InstanceType": instance_type, "InstanceCount": instance_count},
    )
    if aws.dry_run:
        say(f"[dry run] would start transform job {name}: {source} -> {destination} and wait")
        return name
    say(f"started transform job {name}: {source} -> {destination}")
    wait_for_job(aws, name, poll_seconds, timeout_seconds)
    return name


def wait_for_job(aws: Aws, name: str, poll_seconds: float, timeout_seconds: float) -> None:
    wait_until_settled(
        f"transform job {name}",
        lambda: aws.client("sagemaker").describe_transform_job(TransformJobName=name),
        "TransformJobStatus",
        "Completed",
        {"Completed", "Failed", "Stopped"},
        poll_seconds,
        timeout_seconds,
    )
