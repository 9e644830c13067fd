"""sm-detect scale: autoscale an endpoint on invocations per instance."""

from scripts.lib import aws


def add_parser(subcommands):
    parser = subcommands.add_parser("scale", help="autoscale an endpoint", description=__doc__)
    parser.add_argument("--endpoint", required=True, help="endpoint name")
    parser.add_argument("--min", type=int, default=1, help="fewest instances (default: 1)")
    parser.add_argument("--max", type=int, default=4, help="most instances (default: 4)")
    parser.add_argument(
        "--target-invocations",
        type=int,
        default=100,
        help="invocations per instance per minute to aim for (default: 100)",
    )
    aws.add_options(parser)
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib import batch

    with aws.one_line_errors():
        batch.scale(aws.from_args(args), args.endpoint, args.min, args.max, args.target_invocations)
