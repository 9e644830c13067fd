"""sm-detect transform: detect objects in every image under an S3 prefix (batch transform)."""

import argparse

from scripts.lib import aws


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "transform", help="batch transform a prefix of images", description=__doc__
    )
    parser.add_argument("--model", required=True, help="SageMaker model name")
    parser.add_argument("--input", required=True, help="s3://.../images/")
    parser.add_argument("--output", required=True, help="s3://.../out/")
    parser.add_argument(
        "--instance-type", default="ml.c5.xlarge", help="instance type (default: ml.c5.xlarge)"
    )
    parser.add_argument("--instance-count", type=int, default=1, help="instances (default: 1)")
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)
    aws.add_options(parser)
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib import transform

    with aws.one_line_errors():
        transform.transform(
            aws.from_args(args),
            args.model,
            args.input,
            args.output,
            args.instance_type,
            args.instance_count,
            poll_seconds=args.poll_seconds,
        )
