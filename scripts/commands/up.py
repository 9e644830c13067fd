"""sm-detect up: from weights to a serving endpoint in one command, safe to repeat."""

import argparse

from scripts.commands.options import (
    add_aws_options,
    add_deploy_options,
    add_precision_options,
    add_push_options,
    aws_session,
    deploy_from_args,
)

SUMMARY = "package, upload, build, push and deploy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_deploy_options(parser)
    parser.add_argument(
        "--s3", required=True, metavar="s3://BUCKET/PREFIX/", help="where the model archive goes"
    )
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket if needed")
    parser.add_argument(
        "--weights",
        default="pretrained",
        help="weights to package when the archive is missing (default: pretrained)",
    )
    parser.add_argument(
        "--archive",
        default="build/model.tar.gz",
        help="model archive to use or create (default: build/model.tar.gz)",
    )
    add_precision_options(parser)
    add_push_options(parser)
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.archives.packaging import PackageSpec, package_as
    from scripts.lib.cloud.up import up

    session = aws_session(args)
    spec = PackageSpec(args.weights, precision=args.precision, calibration=args.calibration)
    up(
        session,
        args.archive,
        ((args.precision, args.weights), lambda: package_as(spec, args.archive)),
        args.s3,
        args.create_bucket,
        (args.image, args.repository, args.tag, args.registry),
        lambda model_data, image: deploy_from_args(session, args, model_data, image),
    )
