"""sm-detect evaluate: mAP on your own labelled photos, through the server or endpoint that will
answer them: every photo sent, COCO results written, scored by pycocotools, per class."""

import argparse
import functools

from scripts.commands.options import add_aws_options, aws_session
from scripts.option_types import endpoint_name

SUMMARY = "measure mAP on labelled photos (COCO annotations)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annotations",
        required=True,
        metavar="COCO_JSON",
        help="COCO annotation file of the photos; its categories numbered as the endpoint's "
        "COCO answers are (COCO's ids for the COCO model, 1, 2, ... in class-list order for "
        "your own)",
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="the folder of the photos")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8080")
    target.add_argument("--endpoint", type=endpoint_name, help="a SageMaker endpoint's name")
    target.add_argument(
        "--model", metavar="ARCHIVE", help="a model archive, served here while it is measured"
    )
    parser.add_argument(
        "--output",
        default="evaluation",
        metavar="DIR",
        help="where the COCO results and the precision-recall curves are written",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    add_aws_options(parser, dry_run=False)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.clients import invoke
    from scripts.lib.evaluation.run import evaluate
    from scripts.lib.local import serve

    measure = functools.partial(
        evaluate,
        annotations_path=args.annotations,
        images_dir=args.images,
        output_dir=args.output,
        json_path=args.json,
    )
    if args.endpoint:
        send = functools.partial(invoke.post_endpoint, aws_session(args), args.endpoint)
        measure(send, f"endpoint {args.endpoint}")
    elif args.url:
        url = invoke.server_url(args.url)
        measure(functools.partial(invoke.post_url, url), url)
    else:
        with serve.in_background(args.model) as url:
            measure(functools.partial(invoke.post_url, url), args.model)
