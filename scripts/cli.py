"""sm-detect: a YOLOv3 detector from weights to a SageMaker endpoint, one step at a time."""

import argparse
import difflib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import NoReturn

from scripts.commands import (
    bench,
    captures,
    compare,
    demo,
    deploy,
    evaluate,
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
    traffic,
    transform,
    up,
    upload,
)
from scripts.commands.options import worded
from scripts.lib.errors import CommandError

# what a command needs beyond the serving set, which is all the serving image holds
OPTIONAL_SETS = {
    "gluoncv": "packaging",
    "cv2": "packaging",
    "matplotlib": "packaging",
    "scipy": "packaging",
    "tqdm": "packaging",
    "pycocotools": "packaging",
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
    traffic,
    scale,
    transform,
    captures,
    compare,
    evaluate,
    expose,
    token,
    teardown,
    up,
    gateway,
    demo,
    postman,
    bench,
)


class HelpWithDefaults(argparse.HelpFormatter):
    """Ends an option's help with its default, unless it has none or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text:
            return text
        if action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a mistake said in one line and exit 1, as every other mistake
    the user can act on (exit 2 means a bug in sm-detect)."""

    commands: dict[str, "Parser"]  # each subcommand's parser, by name

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (`{self.prog} --help` lists the options)", file=sys.stderr)
        sys.exit(1)

    def unrecognized(self, extra: list[str]) -> NoReturn:
        """The error for arguments this command does not take, with the closest it does."""
        known = [option for action in self._actions for option in action.option_strings]
        hints = []
        for argument in extra:
            close = difflib.get_close_matches(argument.split("=", 1)[0], known, n=1)
            if close:
                hints.append(f"{argument}: did you mean {close[0]}?")
        self.error(f"unrecognized arguments: {' '.join(extra)}" + "".join(f"; {h}" for h in hints))


def build_parser() -> Parser:
    parser = Parser(prog="sm-detect", description=__doc__)
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = {}
    for command in COMMANDS:
        command_parser = subcommands.add_parser(
            command.__name__.rpartition(".")[2],
            help=command.SUMMARY,
            description=command.__doc__,
            formatter_class=HelpWithDefaults,
        )
        command.add_arguments(command_parser)
        command_parser.set_defaults(run=command.run)
        parser.commands[command_parser.prog.rpartition(" ")[2]] = command_parser
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A user's mistake is one line and exit 1; a bug is one line saying so,
    its traceback in a file (or on the terminal with --debug), and exit 2."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # the command's own usage, not the top level's: the mistake is in its options
        parser.commands[args.command].unrecognized(extra)
    try:
        return args.run(args) or 0
    except CommandError as error:
        return user_mistake(args, error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`sm-detect invoke ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in OPTIONAL_SETS:
            return report_bug(args, error)
        print(
            f"sm-detect {args.command}: this environment has no {missing}, which is in the "
            f"{OPTIONAL_SETS[missing]} set: pip install -r requirements/{OPTIONAL_SETS[missing]}"
            ".txt (the serving image holds the serving set only)",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # noqa: BLE001 - anything else is a bug, reported as one
        from scripts.lib.cloud import aws

        # AWS's failures (credentials, permissions, a throttled or refused call) are the
        # user's to act on: translated here, once, for every command
        translated = aws.failure(error)
        return user_mistake(args, translated) if translated else report_bug(args, error)


def user_mistake(args: argparse.Namespace, error: CommandError) -> int:
    print(f"sm-detect {args.command}: {worded(error)}", file=sys.stderr)
    return 1


def report_bug(args: argparse.Namespace, error: BaseException) -> int:
    if args.debug:
        traceback.print_exc()
        where = "above"
    else:
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"sm-detect-{args.command}-", suffix=".log", delete=False
        ) as file:
            traceback.print_exc(file=file)
        where = f"in {file.name}"
    print(
        f"sm-detect {args.command}: unexpected error, a bug in sm-detect: "
        f"{type(error).__name__}: {error} (the traceback is {where}; please report it)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
