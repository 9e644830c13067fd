"""sm-detect bench: measure the served detector against the seed's pipeline and AWS's stack."""

import argparse
import os

from scripts.option_types import whole_number

DEFAULT_PHOTO = os.path.join("..", "shared", "fixtures", "dog.jpg")


SUMMARY = "benchmark latency, throughput, start-up and memory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="build/model-random.tar.gz",
        help="model.tar.gz or an unpacked model directory (default: build/model-random.tar.gz)",
    )
    parser.add_argument(
        "--photo",
        default=DEFAULT_PHOTO if os.path.isfile(DEFAULT_PHOTO) else None,
        help="photograph the test images are made from (default: ../shared/fixtures/dog.jpg "
        "when present, else scikit-image's cat)",
    )
    parser.add_argument("--output", "-o", default="BENCHMARKS.md", help="Markdown report to write")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="instance and managed-API prices to reckon costs with, in the shape of "
        "scripts/lib/bench/prices.toml (default: that file, with its sources and dates)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: one image size, two requests per figure, four servers (AWS's "
        "toolkit, and ours in FP32, INT8 and BF16)",
    )
    parser.add_argument(
        "--shapes",
        type=whole_number(1),
        metavar="N",
        help="only send N photos of distinct sizes to an FP32, an INT8 and a BF16 server, "
        "printing each worker's memory as it goes, and compare the default mode with GluonCV's "
        "pipeline",
    )

    parser.add_argument(
        "--profile",
        action="store_true",
        help="only print where each precision's forward spends its time (FP32, INT8 and BF16 "
        "made from --model), by oneDNN's own log, with the ISA it runs on",
    )


def run(args: argparse.Namespace) -> None:
    from scripts.lib.bench.run import benchmark

    benchmark(
        args.model,
        args.photo,
        args.output,
        json_path=args.json,
        quick=args.quick,
        shapes_only=args.shapes,
        prices_path=args.prices,
        profile_only=args.profile,
    )
