"""sm-detect upload: put model.tar.gz in S3, once."""

import argparse

from scripts.commands.options import add_aws_options, aws_session

SUMMARY = "upload model.tar.gz to S3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", help="model.tar.gz")
    parser.add_argument("destination", help="s3://BUCKET/PREFIX/ (or a full object key)")
    parser.add_argument(
        "--create-bucket", action="store_true", help="create the bucket when it does not exist"
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import s3

    print(s3.upload(aws_session(args), args.archive, args.destination, args.create_bucket))
