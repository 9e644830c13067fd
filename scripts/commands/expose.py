"""sm-detect expose: a public HTTPS API for apps in front of an endpoint (API Gateway), by an
API key and usage plan or by bearer tokens checked by a Lambda authorizer; safe to repeat."""

import argparse

from scripts.commands.options import add_aws_options, add_public_api_options, aws_session
from scripts.option_types import endpoint_name

SUMMARY = "a public API (API Gateway) in front of an endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", type=endpoint_name, required=True, help="the SageMaker endpoint's name"
    )
    parser.add_argument(
        "--auth",
        choices=("api-key", "token"),
        default="api-key",
        help="how callers prove who they are",
    )
    add_public_api_options(parser)
    parser.add_argument(
        "--show-key", action="store_true", help="print the API key's value (api-key only)"
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import public_api

    api = public_api.PublicApi(
        aws_session(args),
        args.endpoint,
        auth=args.auth,
        rate=args.rate,
        burst=args.burst,
        quota=args.quota,
        stage=args.stage,
        cors_origins=args.cors_origin,
    )
    url, _, key_value = public_api.apply(api, show_key=args.show_key)
    print(url)
    if key_value:
        print(key_value)
