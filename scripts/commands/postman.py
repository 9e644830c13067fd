"""sm-detect postman: a Postman collection and environment that call an endpoint signed, and
its public API (`sm-detect expose`) with an API key or a bearer token."""

import argparse

from scripts.option_types import endpoint_name

SUMMARY = "write a Postman collection for an endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument("--region", required=True, help="the endpoint's region")
    parser.add_argument("--image", help="image file the requests send (can be picked in Postman)")
    parser.add_argument(
        "--public-url",
        default="",
        help="the public API's invoke URL, as `sm-detect expose` prints it",
    )
    parser.add_argument("-o", "--output", default=".", help="folder to write into")


def run(args: argparse.Namespace) -> None:
    from scripts.lib.clients import postman

    postman.write(args.endpoint, args.region, args.output, args.image, args.public_url)
