"""sm-detect scale: autoscale an endpoint: on invocations per instance, or for an asynchronous
endpoint on its queue, down to zero instances with --min 0."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name

SUMMARY = "autoscale an endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument(
        "--min", type=int, default=1, help="fewest instances; 0 for an asynchronous endpoint"
    )
    parser.add_argument("--max", type=int, default=4, help="most instances")
    parser.add_argument(
        "--target-invocations",
        type=int,
        default=100,
        help="real-time: invocations per instance per minute to aim for",
    )
    parser.add_argument(
        "--target-backlog",
        type=int,
        default=5,
        help="asynchronous: queued requests per instance to aim for",
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import scale
    from scripts.lib.errors import CommandError
    from scripts.lib.progress import say

    if not 0 <= args.min <= args.max or args.max < 1:
        raise CommandError(
            f"need 0 <= --min <= --max and --max >= 1, got {args.min} and {args.max}"
        )
    session = aws_session(args)
    asynchronous = None
    if session.dry_run:
        # a dry run asks AWS nothing: --min 0 is only for an asynchronous endpoint
        asynchronous = args.min == 0
        kind = "asynchronous" if asynchronous else "real-time"
        say(
            f"[dry run] would ask SageMaker whether {args.endpoint} is asynchronous; "
            f"shown as {kind}"
        )
    scale.scale(
        session,
        args.endpoint,
        args.min,
        args.max,
        target_invocations=args.target_invocations,
        target_backlog=args.target_backlog,
        asynchronous=asynchronous,
    )
