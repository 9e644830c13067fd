"""sm-detect bench: measure the served detector against the seed's pipeline and AWS's stack."""

import os

DEFAULT_PHOTO = os.path.join("..", "shared", "fixtures", "dog.jpg")


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "bench", help="benchmark latency, throughput, start-up and memory", description=__doc__
    )
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
        "--quick",
        action="store_true",
        help="a smoke run: one image size, two requests per figure, three servers",
    )
    parser.set_defaults(run=run)


def run(args):
    import json
    import sys
    import tempfile

    from scripts.lib.bench.report import Report
    from scripts.lib.bench.run import BenchRun, Settings
    from scripts.lib.errors import CommandError
    from scripts.lib.progress import say

    if not os.path.exists(args.model):
        raise CommandError(
            f"{args.model} does not exist; create it with `sm-detect package --weights random`"
        )
    settings = Settings(model=args.model, photo=args.photo)
    if args.quick:
        settings = Settings(
            model=args.model,
            photo=args.photo,
            sizes=((640, 480),),
            repeats=2,
            concurrency=(1, 2),
            rounds=1,
            per_client=1,
            modes=("aspect", "square320"),
            stacks=("aws", "ours", "ours-int8"),
        )
    with tempfile.TemporaryDirectory(prefix="sm-detect-bench-") as work_dir:
        figures = BenchRun(settings, work_dir).run()
    command = (
        "sm-detect " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "sm-detect bench"
    )
    text = Report(figures).markdown(command)
    with open(args.output, "w", encoding="utf-8") as file:
        file.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(figures, file, indent=1)
    print(text)
    say(f"wrote {args.output}")
