"""sm-detect compare: a shadow test's verdict. The production variant's and the shadow's captured
answers to the same requests, compared as INT8 is compared with FP32 when it is packaged:
detections matched, mAP@0.5 of the shadow against production, the largest score difference,
and each variant's latency."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name, share

SUMMARY = "compare a shadow variant's captured answers with production's"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capture",
        required=True,
        metavar="S3_URI|DIR",
        help="the capture destination (deploy --data-capture), or the folder `gateway --capture` "
        "wrote",
    )
    parser.add_argument(
        "--production",
        type=endpoint_name,
        required=True,
        metavar="NAME",
        help="the production variant (AllTraffic for an endpoint deployed with --model-data)",
    )
    parser.add_argument(
        "--shadow", type=endpoint_name, required=True, metavar="NAME", help="the shadow variant"
    )
    parser.add_argument(
        "--threshold",
        type=share,
        default=0.0,
        help="production's detections scoring this or more are the reference (default: 0, all)",
    )
    parser.add_argument(
        "--endpoint",
        type=endpoint_name,
        help="the endpoint, to read each variant's latency from CloudWatch when the captures do "
        "not hold it",
    )
    parser.add_argument("--each", action="store_true", help="a line for every request")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    add_aws_options(parser, dry_run=False)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import shadow_test

    result = shadow_test.compare(
        aws_session(args),
        args.capture,
        args.production,
        args.shadow,
        threshold=args.threshold,
        endpoint=args.endpoint,
    )
    shadow_test.report(result, args.production, args.shadow, each=args.each, json_path=args.json)
