"""sm-detect serve: run the model server on this machine as the container would."""

import argparse

from scripts.option_types import port_number

SUMMARY = "serve a packaged model over HTTP"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="model.tar.gz or an unpacked model directory "
        "(default: the newest build/model*.tar.gz, which `make serve` writes)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=None,
        help="port for /ping and /invocations; 0 picks a free one and prints it "
        "(default: $SAGEMAKER_BIND_TO_PORT or 8080)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--multi-model",
        action="store_true",
        help="serve as a SageMaker multi-model endpoint: no model at start, each loaded when "
        "POST /models names it (requires --models-dir)",
    )
    parser.add_argument(
        "--models-dir", metavar="ROOT", help="with --multi-model: the only folder models load from"
    )
    parser.add_argument(
        "--base-dir",
        default=None,
        help="SageMaker-like base dir to lay out (default: a temporary one, removed at exit)",
    )


def run(args: argparse.Namespace) -> int | None:
    from scripts.lib.errors import CommandError
    from scripts.lib.local.serve import serve, serve_many

    if args.multi_model != bool(args.models_dir) or (args.multi_model and args.model):
        raise CommandError("--multi-model goes with --models-dir ROOT, and without --model")
    if args.multi_model:
        return serve_many(args.models_dir, port=args.port, host=args.host, base_dir=args.base_dir)
    return serve(args.model, port=args.port, host=args.host, base_dir=args.base_dir)
