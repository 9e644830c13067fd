"""sm-detect upload: put model.tar.gz in S3, once."""

from scripts.lib import aws


def add_parser(subcommands):
    parser = subcommands.add_parser("upload", help="upload model.tar.gz to S3", description=__doc__)
    parser.add_argument("archive", help="model.tar.gz")
    parser.add_argument("destination", help="s3://BUCKET/PREFIX/ (or a full object key)")
    parser.add_argument(
        "--create-bucket", action="store_true", help="create the bucket when it does not exist"
    )
    aws.add_options(parser)
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib import s3

    with aws.one_line_errors():
        print(s3.upload(aws.from_args(args), args.archive, args.destination, args.create_bucket))
