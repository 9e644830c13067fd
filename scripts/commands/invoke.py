"""``sm-detect invoke``: send an image to a running server and show the detections."""


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "invoke", help="detect objects in an image", description=__doc__
    )
    parser.add_argument("image", help="image file (JPEG, PNG, ...)")
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="server address (default: http://127.0.0.1:8080)",
    )
    parser.add_argument("--threshold", type=float, help="minimum score to report")
    parser.add_argument("--max-detections", type=int, help="report at most this many")
    parser.add_argument("--classes", help="only these classes, e.g. dog;person")
    parser.add_argument("--draw", metavar="OUT", help="write the image with boxes drawn to OUT")
    parser.add_argument("--json", action="store_true", help="print the raw JSON response")
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib import invoking

    attributes = invoking.custom_attributes(
        threshold=args.threshold, max_detections=args.max_detections, classes=args.classes
    )
    response = invoking.invoke_url(args.url, args.image, attributes)
    if args.draw:
        invoking.save_drawing(args.url, args.image, attributes, args.draw)
    invoking.report(response, raw=args.json)
