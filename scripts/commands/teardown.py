"""sm-detect teardown: delete an endpoint and what was created for it."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name

SUMMARY = "delete an endpoint and its resources"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument(
        "--all", action="store_true", help="also the model archives in S3 and the ECR repository"
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import teardown

    if args.dry_run:
        teardown.plan(args.endpoint, args.all)
        return
    teardown.teardown(aws_session(args), args.endpoint, args.all)
