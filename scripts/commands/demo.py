"""sm-detect demo: a page that shows the detector's boxes on your photos, in front of a local
server (--url) or a deployed endpoint (--endpoint, signed here with your AWS credentials)."""

import argparse

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name, port_number

SUMMARY = "a web page that draws the detections on your photos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--url", help="a server's address, e.g. http://127.0.0.1:8080 (the default target)"
    )
    target.add_argument("--endpoint", type=endpoint_name, help="a SageMaker endpoint's name")
    add_aws_options(parser, dry_run=False)
    parser.add_argument("--endpoint-url", help="another runtime address for --endpoint")
    parser.add_argument("--ca-bundle", help="CA certificate to trust for --endpoint-url")
    parser.add_argument(
        "--port", type=port_number, default=8090, help="the page's port; 0 picks one"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name the page is opened by (repeatable); requests naming any other "
        "host are refused, so that no website can reach the demo by rebinding a name",
    )


def run(args: argparse.Namespace) -> None:
    from scripts.lib.doors import demo

    target: demo.EndpointTarget | demo.UrlTarget
    if args.endpoint:
        session = aws_session(args, runtime_url=args.endpoint_url, runtime_verify=args.ca_bundle)
        target = demo.EndpointTarget(session, args.endpoint)
    else:
        target = demo.UrlTarget(args.url or "http://127.0.0.1:8080")
    demo.serve(demo.Demo(target, args.host, args.allow_host), args.host, args.port)
