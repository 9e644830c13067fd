"""sm-detect: a YOLOv3 detector from weights to a SageMaker endpoint, one step at a time."""

import argparse
import os
import sys

from scripts.commands import (
    bench,
    captures,
    demo,
    deploy,
    expose,
    gateway,
    invoke,
    package,
    postman,
    push,
    scale,
    serve,
    teardown,
    token,
    transform,
    up,
    upload,
)
from scripts.lib.errors import CommandError

# what a command needs beyond the serving set, which is all the serving image holds
OPTIONAL_SETS = {
    "gluoncv": "packaging",
    "cv2": "packaging",
    "matplotlib": "packaging",
    "scipy": "packaging",
    "tqdm": "packaging",
    "boto3": "deploy",
    "botocore": "deploy",
    "jwt": "deploy",
    "cryptography": "deploy",
}

# in the order of the deployment story
COMMANDS = (
    package,
    serve,
    invoke,
    upload,
    push,
    deploy,
    scale,
    transform,
    captures,
    expose,
    token,
    teardown,
    up,
    gateway,
    demo,
    postman,
    bench,
)


def build_parser():
    parser = argparse.ArgumentParser(prog="sm-detect", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subcommands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except CommandError as error:
        print(f"sm-detect {args.command}: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in OPTIONAL_SETS:
            raise
        print(
            f"sm-detect {args.command}: this environment has no {missing}, which is in the "
            f"{OPTIONAL_SETS[missing]} set: pip install -r requirements/{OPTIONAL_SETS[missing]}"
            ".txt (the serving image holds the serving set only)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`sm-detect invoke ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
