"""sm-detect push: push the image to ECR (created if missing) or to any registry."""

import argparse

from scripts.commands.options import add_aws_options, add_push_options, aws_session

SUMMARY = "push the image to ECR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_push_options(parser)
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import push

    print(push.push(aws_session(args), args.image, args.repository, args.tag, args.registry))
