"""Options more than one command takes, and how the command line words the library's remedies.

Commands import their shared options from here, never from each other.
"""

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from inference.precisions import PRECISIONS
from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.endpoint import DEFAULT_INSTANCE_TYPE
from scripts.lib.cloud.variants import Variant
from scripts.lib.errors import CommandError
from scripts.option_types import (
    bucket_name,
    endpoint_name,
    key_value,
    positive_number,
    s3_uri,
    serverless_config,
    whole_number,
)

# a parser, or a titled group of its options (argparse's own name for both is private)
Options = argparse.ArgumentParser | argparse._ArgumentGroup

# a ``CommandError``'s remedy key -> the way out, in the command line's own terms
REMEDIES = {
    "create_bucket": "pass --create-bucket to create it",
    "ca_bundle": "a self-signed certificate, such as `sm-detect gateway`'s? pass its certificate "
    "with --ca-bundle",
    "region": "pass --region or set AWS_REGION / AWS_DEFAULT_REGION (or a profile's region)",
    "role": "pass --role ARN, or create one, e.g.",
    "model": "pass --model, or make one with `sm-detect package` (or `make serve`)",
    "weights": "without internet access, package with WEIGHTS=random (make) or --weights random",
    "validate": "give --validate DIR, or put more images in the folder",
    "agreement_threshold": "lower --agreement-threshold, or validate on images with objects",
    "min_agreement": "lower --min-agreement",
    "credentials": "--credentials FILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    "async_output": "deploy with --async-output for an asynchronous endpoint",
    "expose_token": "run `sm-detect expose --endpoint NAME --auth token` first",
    "models_dir": "give --models-dir the folder the models are unpacked under",
    "prices": "give --prices a file in the shape of scripts/lib/bench/prices.toml",
    "capture_variants": "deploy with --shadow NAME=S3_URI and --data-capture (or run `sm-detect "
    "gateway` with --variant, --shadow and --capture DIR), send requests, then compare",
}


def worded(error: CommandError) -> str:
    """A ``CommandError``'s one line, its remedy in the command line's terms."""
    remedy = REMEDIES.get(error.remedy) if error.remedy else None
    return (f"{error}; {remedy}" if remedy else str(error)) + error.detail


def add_aws_options(parser: argparse.ArgumentParser, dry_run: bool = True) -> None:
    """--region, --profile and --dry-run, the same on every AWS subcommand."""
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")
    if not dry_run:
        parser.set_defaults(dry_run=False)  # nothing to rehearse: it only reads or calls
        return
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be done and print the AWS calls that would change something; "
        "nothing reaches AWS, no credentials needed",
    )


def aws_session(
    args: argparse.Namespace,
    runtime_url: str | None = None,
    runtime_verify: str | bool | None = None,
) -> Aws:
    """The AWS session the standard options describe."""
    return Aws(
        region=args.region,
        profile=args.profile,
        dry_run=args.dry_run,
        runtime_url=runtime_url,
        runtime_verify=runtime_verify,
    )


def add_deploy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument(
        "--multi-model",
        action="store_true",
        help="a multi-model endpoint: --model-data is an s3:// prefix of archives, each loaded "
        "when a request names it (invoke --target-model NAME.tar.gz)",
    )
    parser.add_argument("--role", help="SageMaker execution role ARN (default: found in IAM)")
    parser.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help="instance type")
    parser.add_argument("--instance-count", type=whole_number(1), default=1, help="instances")
    parser.add_argument(
        "--serverless",
        type=serverless_config,
        metavar="MEMORY_MB:MAX_CONCURRENCY",
        help="a serverless endpoint instead of instances, e.g. 6144:5",
    )
    parser.add_argument(
        "--env",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="container environment, e.g. SM_DETECT_THRESHOLD=0.4 (repeatable)",
    )
    asynchronous = parser.add_argument_group(
        "asynchronous inference (requests queued, images up to 128 MB, answers written to S3)"
    )
    asynchronous.add_argument(
        "--async-output", type=s3_uri, metavar="S3_URI", help="makes the endpoint asynchronous"
    )
    asynchronous.add_argument("--async-failure", type=s3_uri, metavar="S3_URI")
    asynchronous.add_argument(
        "--async-max-concurrency",
        type=whole_number(1),
        metavar="N",
        help="requests each instance works on at once",
    )
    asynchronous.add_argument("--sns-success", metavar="TOPIC_ARN")
    asynchronous.add_argument("--sns-error", metavar="TOPIC_ARN")
    capture = parser.add_argument_group("data capture (requests and answers recorded in S3)")
    capture.add_argument("--data-capture", type=s3_uri, metavar="S3_URI")
    capture.add_argument(
        "--capture-percent",
        type=whole_number(1, 100),
        default=100,
        help="share of requests captured",
    )
    parser.add_argument(
        "--s3-input",
        type=bucket_name,
        action="append",
        default=[],
        metavar="BUCKET",
        help='a bucket requests may name images in ({"s3_uri": "s3://BUCKET/KEY"}); the '
        "execution role is granted s3:GetObject on it (repeatable; default: none, S3 input off)",
    )
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)


def deploy_from_args(
    session: Aws,
    args: argparse.Namespace,
    model_data: str | Sequence[Variant],
    image: str,
    **rollout: Any,
) -> str:
    """Create or update the endpoint the deploy options describe (``deploy`` and ``up``);
    ``rollout``: ``deploy``'s shadow test and guarded update, if any."""
    from scripts.lib.cloud import endpoint

    check_environment(dict(args.env))
    asynchronous = None
    if args.async_output:
        asynchronous = endpoint.async_inference_config(
            args.async_output,
            failure=args.async_failure,
            max_concurrency=args.async_max_concurrency,
            success_topic=args.sns_success,
            error_topic=args.sns_error,
        )
    elif args.async_failure or args.async_max_concurrency or args.sns_success or args.sns_error:
        raise CommandError("the asynchronous options need --async-output")
    spec = endpoint.DeploySpec(
        args.endpoint,
        model_data if isinstance(model_data, str) else tuple(model_data),
        image,
        role=args.role,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        serverless=args.serverless,
        environment=dict(args.env),
        poll_seconds=args.poll_seconds,
        async_inference=asynchronous,
        multi_model=args.multi_model,
        data_capture=endpoint.data_capture_config(args.data_capture, args.capture_percent)
        if args.data_capture
        else None,
        s3_input=tuple(args.s3_input),
        **rollout,
    )
    return endpoint.deploy(session, spec)


def check_environment(environment: Mapping[str, str]) -> None:
    """The container's --env values, checked by the server's own parser before any call: a value
    the container would refuse on SageMaker is refused here."""
    from container.settings import ConfigurationError, Settings

    try:
        Settings.from_environ(environment)
    except ConfigurationError as error:
        raise CommandError(f"--env {error}") from None


def add_push_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", default="sm-detect:latest", help="local image")
    parser.add_argument("--repository", default="sm-detect", help="repository")
    parser.add_argument("--tag", default="latest", help="remote tag")
    parser.add_argument("--registry", help="push to this registry HOST[:PORT] instead of ECR")


def add_public_api_options(parser: Options) -> None:
    """What the public API allows callers, the same for `expose` and its twin."""
    parser.add_argument("--rate", type=positive_number, default=10.0, help="requests per second")
    parser.add_argument("--burst", type=whole_number(1), default=20, help="requests at once")
    parser.add_argument(
        "--quota", type=whole_number(1), help="requests per day per key (API keys only)"
    )
    parser.add_argument("--stage", default="prod", help="the API's stage, first in its path")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin that may call the API, e.g. https://app.example.com (repeatable)",
    )


def add_precision_options(parser: Options) -> None:
    """--precision and --calibration, for ``package`` and ``up``."""
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="int8: oneDNN INT8, calibrated on images (VNNI and AMX CPUs); bf16: the trunk in "
        "bfloat16, for CPUs with AMX (slower than FP32 without it)",
    )
    parser.add_argument(
        "--calibration",
        metavar="DIR",
        help="images to calibrate INT8 on, as they will be served; without it, the packaging "
        "set's sample photographs (a start: your own traffic calibrates best)",
    )
