"""sm-detect token: a bearer token for an app to call a public API made with --auth token.

With --endpoint the secret comes from SSM, and the subject's usage key is put in the API's usage
plan (once), so that API Gateway throttles and counts each subject on its own."""

import argparse
import os

from scripts.commands.options import add_aws_options, aws_session
from scripts.lib.authorizer.token_authorizer import MAX_TTL_SECONDS
from scripts.option_types import endpoint_name, whole_number

SUMMARY = "mint a bearer token for the public API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subject", required=True, help="who the token is for, e.g. an app")
    parser.add_argument(
        "--ttl",
        type=whole_number(1, MAX_TTL_SECONDS),
        default=3600,
        help="seconds until it expires (at most 30 days)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--endpoint",
        type=endpoint_name,
        help="the endpoint `expose --auth token` made the API for (secret in SSM)",
    )
    source.add_argument(
        "--secret-env",
        metavar="NAME",
        help="environment variable holding the secret, 32 bytes or more (the local twin's)",
    )
    add_aws_options(parser, dry_run=False)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.authorizer import token_authorizer
    from scripts.lib.cloud import public_api
    from scripts.lib.cloud.names import secret_parameter
    from scripts.lib.errors import CommandError

    if not args.subject.strip() or not args.subject.isprintable():
        raise CommandError("--subject must name someone in printable characters")
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise CommandError(f"the environment variable {args.secret_env} is not set")
    else:
        session = aws_session(args)
        secret = session.client("ssm").get_parameter(
            Name=secret_parameter(args.endpoint), WithDecryption=True
        )["Parameter"]["Value"]
        api = public_api.PublicApi(session, args.endpoint, auth=public_api.TOKEN)
        try:
            public_api.register_caller(api, args.subject, secret)
        except public_api.NoUsagePlan as error:
            raise CommandError(str(error), remedy="expose_token") from None
    try:
        print(token_authorizer.mint(args.subject, args.ttl, secret))
    except ValueError as error:
        raise CommandError(str(error)) from None
