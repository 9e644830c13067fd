"""sm-detect token: a bearer token for an app to call a public API made with --auth token."""

import os

from scripts.lib import aws

SUMMARY = "mint a bearer token for the public API"


def add_arguments(parser):
    parser.add_argument("--subject", required=True, help="who the token is for, e.g. an app")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--endpoint", help="the endpoint `expose --auth token` made the API for (secret in SSM)"
    )
    source.add_argument(
        "--secret-env",
        metavar="NAME",
        help="environment variable holding the secret (the local twin's)",
    )
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    parser.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")


def run(args):
    from scripts.lib.authorizer import token_authorizer
    from scripts.lib.errors import CommandError
    from scripts.lib.public_api import secret_parameter

    if args.ttl < 1:
        raise CommandError("--ttl must be at least 1 second")
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise CommandError(f"the environment variable {args.secret_env} is not set")
    else:
        with aws.one_line_errors():
            session = aws.Aws(region=args.region, profile=args.profile)
            secret = session.client("ssm").get_parameter(
                Name=secret_parameter(args.endpoint), WithDecryption=True
            )["Parameter"]["Value"]
    print(token_authorizer.mint(args.subject, args.ttl, secret))
