"""sm-detect package: export the detector into the model.tar.gz SageMaker unpacks."""


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "package", help="export the model into model.tar.gz", description=__doc__
    )
    parser.add_argument(
        "--weights",
        default="pretrained",
        help="pretrained (GluonCV COCO, downloaded), random (seeded), "
        "or PATH.params saved from a GluonCV YOLOv3 (default: pretrained)",
    )
    parser.add_argument(
        "--classes",
        metavar="FILE",
        help="class names, one per line, for a fine-tuned model's weights",
    )
    parser.add_argument(
        "--output",
        "-o",
        default="build/model.tar.gz",
        help="archive to write (default: build/model.tar.gz)",
    )
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib.packaging import package

    package(args.weights, args.output, args.classes)
