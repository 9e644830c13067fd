"""sm-detect transform: detect objects in every image under an S3 prefix (batch transform)."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.lib.cloud.endpoint import DEFAULT_INSTANCE_TYPE
from scripts.option_types import whole_number

SUMMARY = "batch transform a prefix of images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="SageMaker model name")
    parser.add_argument("--input", required=True, help="s3://.../images/")
    parser.add_argument("--output", required=True, help="s3://.../out/")
    parser.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help="instance type")
    parser.add_argument("--instance-count", type=whole_number(1), default=1, help="instances")
    parser.add_argument(
        "--accept",
        choices=("application/json", "application/jsonlines", "application/x-coco+json"),
        default="application/json",
        help="each image's answer: the detections document, as one line, or COCO results",
    )
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import transform

    transform.transform(
        aws_session(args),
        args.model,
        args.input,
        args.output,
        args.instance_type,
        args.instance_count,
        accept=args.accept,
        poll_seconds=args.poll_seconds,
    )
