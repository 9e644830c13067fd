"""sm-detect deploy: create or update a SageMaker endpoint and wait until it serves; real-time,
serverless or asynchronous, its traffic captured to S3 if asked."""

import argparse

from scripts.lib.cloud import aws
from scripts.lib.cloud.endpoint import DEFAULT_INSTANCE_TYPE
from scripts.option_types import endpoint_name, key_value, s3_uri, serverless_config, whole_number


def add_deploy_options(parser):
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
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
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)


SUMMARY = "create or update an endpoint"


def add_arguments(parser):
    add_deploy_options(parser)
    parser.add_argument("--model-data", type=s3_uri, required=True, help="s3://... model.tar.gz")
    parser.add_argument("--image", required=True, help="image URI, e.g. from `sm-detect push`")
    aws.add_options(parser)


def deploy_from_args(session, args, model_data, image):
    from scripts.lib.cloud import endpoint
    from scripts.lib.errors import CommandError

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
    return endpoint.deploy(
        session,
        args.endpoint,
        model_data,
        image,
        role=args.role,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        serverless=args.serverless,
        environment=dict(args.env),
        poll_seconds=args.poll_seconds,
        async_inference=asynchronous,
        data_capture=endpoint.data_capture_config(args.data_capture, args.capture_percent)
        if args.data_capture
        else None,
    )


def check_environment(environment):
    """The container's --env values, checked by the server's own parser before any call: a value
    the container would refuse on SageMaker is refused here."""
    from inference.settings import ConfigurationError, Settings
    from scripts.lib.errors import CommandError

    try:
        Settings.from_environ(environment)
    except ConfigurationError as error:
        raise CommandError(f"--env {error}") from None


def run(args):
    with aws.one_line_errors():
        deploy_from_args(aws.from_args(args), args, args.model_data, args.image)
