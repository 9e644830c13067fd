"""sm-detect invoke: send an image (or several, in one request) to a server or an endpoint and
show the detections."""

import argparse
import functools

from inference.modes import MODES
from inference.params import COORDINATES, NORMALIZED
from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name

SUMMARY = "detect objects in an image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image file (JPEG, PNG, ...), or s3://BUCKET/KEY for the endpoint to read (it must "
        "list the bucket: deploy --s3-input)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help='send every IMAGE in one request ({"images": [...]}), answered image by image',
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="a server's address (default: http://127.0.0.1:8080)")
    target.add_argument(
        "--endpoint", type=endpoint_name, help="a SageMaker endpoint's name (signed HTTPS)"
    )
    add_aws_options(parser, dry_run=False)
    parser.add_argument(
        "--endpoint-url",
        help="another runtime address for --endpoint, e.g. "
        "https://127.0.0.1:8443 for `sm-detect gateway`",
    )
    parser.add_argument("--ca-bundle", help="CA certificate to trust for --endpoint-url")
    parser.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="an asynchronous endpoint: upload the image to --input-prefix, queue it, wait "
        "for the answer in S3",
    )
    parser.add_argument("--input-prefix", metavar="S3_URI", help="where --async uploads images")
    parser.add_argument(
        "--async-timeout",
        type=float,
        default=900,
        metavar="SECONDS",
        help="how long --async waits for the answer",
    )
    parser.add_argument(
        "--print-curl",
        action="store_true",
        help="print an equivalent curl command instead of sending (for --endpoint signed with "
        "curl --aws-sigv4, its keys read from the environment, never printed)",
    )
    parser.add_argument("--threshold", type=float, help="minimum score to report")
    parser.add_argument("--max-detections", type=int, help="report at most this many")
    parser.add_argument("--classes", help="only these classes, e.g. 'dog;person'")
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="how the image is sized for the network (default: the endpoint's, aspect)",
    )
    parser.add_argument(
        "--target-model",
        metavar="NAME",
        help="a multi-model endpoint's model (its archive under the endpoint's prefix, e.g. "
        "site-a.tar.gz); with --url, the name the server loaded it as",
    )
    parser.add_argument(
        "--target-variant",
        metavar="NAME",
        help="with --endpoint: the production variant to answer (default: by the weights)",
    )
    parser.add_argument(
        "--coordinates",
        choices=COORDINATES,
        help="boxes in the image's pixels (default) or as fractions of its width and height",
    )
    parser.add_argument(
        "--coco",
        action="store_true",
        help="print COCO results ([{image_id, category_id, bbox, score}]) instead",
    )
    parser.add_argument("--draw", metavar="OUT", help="write the image with boxes drawn to OUT")
    parser.add_argument("--json", action="store_true", help="print the raw JSON response")


def run(args: argparse.Namespace) -> None:
    from scripts.lib.clients import invoke
    from scripts.lib.cloud.endpoint import invocations_url
    from scripts.lib.errors import CommandError

    attributes = invoke.custom_attributes(
        threshold=args.threshold,
        max_detections=args.max_detections,
        classes=args.classes,
        mode=args.mode,
        coordinates=args.coordinates,
    )
    if args.asynchronous and not (args.endpoint and args.input_prefix):
        raise CommandError("--async needs --endpoint and --input-prefix s3://BUCKET/PREFIX/")
    if args.print_curl and (args.batch or len(args.images) > 1 or invoke.is_s3(args.images[0])):
        raise CommandError("--print-curl writes the command for one image file")
    if args.target_variant and (args.asynchronous or not args.endpoint):
        raise CommandError("--target-variant picks a variant of a real-time --endpoint")
    if args.endpoint:
        session = aws_session(args, runtime_url=args.endpoint_url, runtime_verify=args.ca_bundle)
        if args.asynchronous:
            endpoint = invoke.AsyncEndpoint(
                session,
                args.endpoint,
                args.input_prefix,
                args.async_timeout,
                name=args.images[0],
            )
            send = endpoint.send
        elif args.print_curl:
            url = invocations_url(args.endpoint, session.region, args.endpoint_url)
            print(
                invoke.curl_command(
                    args.images[0],
                    attributes,
                    url,
                    session.region,
                    args.ca_bundle,
                    args.target_model,
                    args.target_variant,
                )
            )
            return
        else:
            send = functools.partial(
                invoke.post_endpoint,
                session,
                args.endpoint,
                target_model=args.target_model,
                target_variant=args.target_variant,
            )
    else:
        url = invoke.server_url(args.url or "http://127.0.0.1:8080")
        if args.print_curl:
            path = f"/models/{args.target_model}/invoke" if args.target_model else "/invocations"
            print(
                invoke.curl_command(
                    args.images[0],
                    attributes,
                    url.rstrip("/") + path,
                    target_model=args.target_model,
                )
            )
            return
        send = functools.partial(invoke.post_url, url, target_model=args.target_model)
    invoke.invoke(
        send,
        args.images,
        attributes,
        draw=args.draw,
        raw=args.json,
        batch=args.batch,
        coco=args.coco,
        normalized=args.coordinates == NORMALIZED,
    )
