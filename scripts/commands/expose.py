"""sm-detect expose: a public HTTPS API for apps in front of an endpoint (API Gateway), by an
API key and usage plan or by bearer tokens checked by a Lambda authorizer; safe to repeat."""

from scripts.lib.cloud import aws
from scripts.option_types import endpoint_name, positive_number, whole_number

SUMMARY = "a public API (API Gateway) in front of an endpoint"


def add_arguments(parser):
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
    aws.add_options(parser)


def add_public_api_options(parser):
    """What the public API allows callers, the same for `expose` and its twin."""
    parser.add_argument("--rate", type=positive_number, default=10.0, help="requests per second")
    parser.add_argument("--burst", type=whole_number(1), default=20, help="requests at once")
    parser.add_argument(
        "--quota", type=whole_number(1), help="requests per day per key (API keys only)"
    )
    parser.add_argument("--stage", default="prod", help="the API's stage, first in its path")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin that may call the API, e.g. https://app.example.com (repeatable)",
    )


def run(args):
    from scripts.lib.cloud.public_api import Exposure

    with aws.one_line_errors():
        exposure = Exposure(
            aws.from_args(args),
            args.endpoint,
            auth=args.auth,
            rate=args.rate,
            burst=args.burst,
            quota=args.quota,
            stage=args.stage,
            cors_origins=args.cors_origin,
        )
        url, _, key_value = exposure.apply(show_key=args.show_key)
    print(url)
    if key_value:
        print(key_value)
