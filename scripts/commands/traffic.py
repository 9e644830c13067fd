"""sm-detect traffic: show how an endpoint's requests are shared among its variants, or shift
them (UpdateEndpointWeightsAndCapacities: no redeployment, the models keep serving)."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name, weights

SUMMARY = "show or shift the traffic among an endpoint's variants"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument(
        "--weights",
        type=weights,
        metavar="NAME=WEIGHT,...",
        help="new weights, e.g. fp32=90,int8=10 (variants not named keep theirs); without it, "
        "the current ones are shown",
    )
    add_aws_options(parser)
    parser.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import variants

    session = aws_session(args)
    if args.weights:
        variants.set_weights(session, args.endpoint, args.weights, args.poll_seconds)
    else:
        variants.show_weights(session, args.endpoint)
