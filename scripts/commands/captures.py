"""sm-detect captures: the traffic an endpoint captured (deploy --data-capture) read back from
S3 as a folder of images and their answers, ready to calibrate or validate an INT8 model on."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import utc_time

SUMMARY = "captured requests and answers as image files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "location",
        metavar="S3_URI",
        help="the capture destination, or below it (or the folder `gateway --capture` wrote)",
    )
    parser.add_argument("--output", "-o", required=True, help="folder to write the files to")
    parser.add_argument(
        "--since",
        type=utc_time,
        help="only requests made at or after this UTC time, e.g. 2026-12-01T10:00",
    )
    add_aws_options(parser, dry_run=False)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import captures

    captures.export(aws_session(args), args.location, args.output, args.since)
