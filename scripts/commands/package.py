"""sm-detect package: export the detector into the model.tar.gz SageMaker unpacks, in FP32 or,
calibrated on your images, in INT8."""

import argparse

from inference.modes import MODES
from scripts.commands.options import add_precision_options
from scripts.option_types import share, whole_number

SUMMARY = "export the model into model.tar.gz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default="pretrained",
        help="pretrained (GluonCV COCO, downloaded), random (seeded), "
        "or PATH.params saved from a GluonCV YOLOv3",
    )
    parser.add_argument(
        "--classes",
        metavar="FILE",
        help="class names, one per line, for a fine-tuned model's weights",
    )
    parser.add_argument("--output", "-o", default="build/model.tar.gz", help="archive to write")
    int8 = parser.add_argument_group("INT8 (oneDNN on the CPU's integer units)")
    add_precision_options(int8)
    int8.add_argument(
        "--calibration-count",
        type=whole_number(1),
        metavar="N",
        help="use at most N calibration images",
    )
    int8.add_argument(
        "--validate",
        metavar="DIR",
        help="images to measure INT8's agreement with FP32 on "
        "(default: a fifth of --calibration, held back from calibrating)",
    )
    int8.add_argument(
        "--min-agreement",
        type=share,
        metavar="MAP",
        help="fail below this mAP@0.5 of INT8 against FP32 (0 to 1)",
    )
    int8.add_argument(
        "--agreement-threshold",
        type=share,
        default=0.5,
        help="FP32 detections scoring this or more are the reference",
    )
    int8.add_argument(
        "--mode",
        choices=MODES,
        default="aspect",
        help="the request mode calibration images are prepared in",
    )


def run(args: argparse.Namespace) -> None:
    from scripts.lib.archives.packaging import PackageSpec, package_as

    spec = PackageSpec(
        args.weights,
        args.classes,
        args.precision,
        args.calibration,
        args.calibration_count,
        args.validate,
        args.min_agreement,
        args.agreement_threshold,
        args.mode,
    )
    package_as(spec, args.output)
