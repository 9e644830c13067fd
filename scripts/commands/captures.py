"""sm-detect captures: the traffic an endpoint captured (deploy --data-capture) read back from
S3 as a folder of images and their answers, ready to calibrate or validate an INT8 model on."""

from scripts.lib.cloud import aws

SUMMARY = "captured requests and answers as image files"


def add_arguments(parser):
    parser.add_argument("location", metavar="S3_URI", help="the capture destination, or below it")
    parser.add_argument("--output", "-o", required=True, help="folder to write the files to")
    parser.add_argument(
        "--since", help="only requests made at or after this UTC time, e.g. 2026-12-01T10:00"
    )
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")


def run(args):
    from scripts.lib.cloud import captures

    since = captures.parse_time(args.since) if args.since else None
    with aws.one_line_errors():
        captures.export(
            aws.Aws(region=args.region, profile=args.profile), args.location, args.output, since
        )
