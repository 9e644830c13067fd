"""sm-detect deploy: create or update a SageMaker endpoint and wait until it serves."""

import argparse

from scripts.lib import aws
from scripts.lib.errors import CommandError


def key_value(text):
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise CommandError(f"--env takes KEY=VALUE, got {text!r}")
    return key, value


def serverless_config(text):
    try:
        memory, concurrency = (int(part) for part in text.split(":"))
    except ValueError:
        raise CommandError(f"--serverless takes MEMORY_MB:MAX_CONCURRENCY, got {text!r}") from None
    return memory, concurrency


def add_deploy_options(parser):
    parser.add_argument("--endpoint", required=True, help="endpoint name")
    parser.add_argument("--role", help="SageMaker execution role ARN (default: found in IAM)")
    parser.add_argument(
        "--instance-type", default="ml.c5.xlarge", help="instance type (default: ml.c5.xlarge)"
    )
    parser.add_argument("--instance-count", type=int, default=1, help="instances (default: 1)")
    parser.add_argument(
        "--serverless",
        metavar="MEMORY_MB:MAX_CONCURRENCY",
        help="a serverless endpoint instead of instances, e.g. 6144:5",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="container environment, e.g. SM_DETECT_THRESHOLD=0.4 (repeatable)",
    )
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "deploy", help="create or update an endpoint", description=__doc__
    )
    add_deploy_options(parser)
    parser.add_argument("--model-data", required=True, help="s3://... model.tar.gz")
    parser.add_argument("--image", required=True, help="image URI, e.g. from `sm-detect push`")
    aws.add_options(parser)
    parser.set_defaults(run=run)


def deploy_from_args(session, args, model_data, image):
    from scripts.lib import endpoint

    return endpoint.deploy(
        session,
        args.endpoint,
        model_data,
        image,
        role=args.role,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        serverless=serverless_config(args.serverless) if args.serverless else None,
        environment=dict(key_value(item) for item in args.env),
        poll_seconds=args.poll_seconds,
    )


def run(args):
    with aws.one_line_errors():
        deploy_from_args(aws.from_args(args), args, args.model_data, args.image)
