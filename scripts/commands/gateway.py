"""sm-detect gateway: SageMaker's signed HTTPS front door, or with --public the public API that
`sm-detect expose` makes, on this machine."""

import argparse
import os
from typing import TYPE_CHECKING

from scripts.commands.options import add_public_api_options
from scripts.option_types import endpoint_name, port_number, shadow, variant, whole_number

if TYPE_CHECKING:  # annotations only: the doors load aiohttp, which --help does without
    from scripts.lib.doors.target_models import TargetModels
    from scripts.lib.doors.traffic import Traffic

DEFAULT_UPSTREAM = "http://127.0.0.1:8080"

SUMMARY = "a local SageMaker runtime (signed), or the public API (--public), before a server"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream",
        help=f"the container or `sm-detect serve` (default: {DEFAULT_UPSTREAM})",
    )
    parser.add_argument(
        "--port", type=port_number, default=8443, help="HTTPS port; 0 picks a free one"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--cert", help="TLS certificate (default: self-signed, made once)")
    parser.add_argument("--key", help="TLS private key for --cert")
    parser.add_argument("--cert-dir", help="where the self-signed certificate is kept")

    signed = parser.add_argument_group("SageMaker's runtime (signed requests)")
    signed.add_argument("--endpoint", type=endpoint_name, help="the endpoint name it answers for")
    signed.add_argument("--region", default="us-east-1", help="signing region")
    signed.add_argument(
        "--credentials",
        metavar="FILE",
        help="AWS credentials file whose keys may sign (default: AWS_* env)",
    )
    signed.add_argument(
        "--async-output",
        metavar="S3_URI",
        help="also answer InvokeEndpointAsync, writing answers under this prefix "
        "(S3 through the standard AWS chain, e.g. AWS_ENDPOINT_URL for a stand-in)",
    )
    signed.add_argument(
        "--async-failure", metavar="S3_URI", help="where failed async requests go (default: output)"
    )
    signed.add_argument(
        "--model-data",
        metavar="PREFIX",
        help="answer as a multi-model endpoint: each request's TargetModel is an archive under "
        "this s3:// prefix (through the standard AWS chain) or local folder",
    )
    signed.add_argument(
        "--models-dir",
        metavar="ROOT",
        help="with --model-data: where archives are unpacked, the --models-dir of the "
        "`sm-detect serve --multi-model` behind",
    )
    variants = parser.add_argument_group(
        "production variants (in place of --upstream), a shadow, and data capture"
    )
    variants.add_argument(
        "--variant",
        type=variant,
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]=URL",
        help="a production variant: the server that answers its share of the requests (repeatable)",
    )
    variants.add_argument(
        "--shadow", type=shadow, metavar="NAME=URL", help="a server answering copies, unseen"
    )
    variants.add_argument(
        "--shadow-percent",
        type=whole_number(1, 100),
        default=100,
        help="share of the requests copied to the shadow",
    )
    variants.add_argument(
        "--capture",
        metavar="DIR",
        help="record every request and answer (the shadow's too) in SageMaker's data-capture "
        "format under DIR, for `sm-detect compare --capture DIR`",
    )
    signed.add_argument(
        "--async-max-input-mb",
        type=whole_number(1, 1024),
        default=6,
        help="the largest input object read for the container: its SAGEMAKER_MAX_PAYLOAD_IN_MB "
        "(larger ones fail with its 413, unread)",
    )

    public = parser.add_argument_group("the public API (--public), as `sm-detect expose` makes it")
    public.add_argument("--public", action="store_true", help="serve POST /STAGE/detect")
    public.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="an API key that may call (repeatable); or use --token-secret-env",
    )
    public.add_argument(
        "--token-secret-env",
        metavar="NAME",
        help="environment variable holding the secret bearer tokens are signed with",
    )
    add_public_api_options(public)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.doors import certificates, gateway
    from scripts.lib.errors import CommandError

    if bool(args.cert) != bool(args.key):
        raise CommandError("--cert and --key go together")
    cert, key = (args.cert, args.key) if args.cert else certificates.self_signed(args.cert_dir)
    print(f"certificate: {cert}", flush=True)
    if args.public:
        run_public(args, cert, key)
        return
    if not args.endpoint:
        raise CommandError("--endpoint names the endpoint the runtime answers for (or --public)")
    service = gateway.Gateway(
        args.endpoint,
        traffic(args),
        args.region,
        gateway.load_credentials(args.credentials),
        async_output=args.async_output,
        async_failure=args.async_failure,
        async_max_input_bytes=args.async_max_input_mb << 20,
        target_models=target_models(args),
    )
    gateway.serve(service, args.host, args.port, cert, key)


def traffic(args: argparse.Namespace) -> "Traffic":
    """The server behind the runtime (--upstream), or its variants and shadow."""
    from scripts.lib.cloud import variants
    from scripts.lib.doors.capture import CaptureWriter
    from scripts.lib.doors.traffic import Traffic
    from scripts.lib.errors import CommandError

    if args.variant and args.upstream:
        raise CommandError("--variant takes the place of --upstream: give one or the other")
    if (args.shadow or args.capture) and args.async_output:
        raise CommandError("the twin's shadow tests and captures are for real-time requests")
    if args.shadow_percent != 100 and not args.shadow:
        raise CommandError("--shadow-percent goes with --shadow")
    production = args.variant or [
        (variants.DEFAULT_VARIANT, 1.0, args.upstream or DEFAULT_UPSTREAM)
    ]
    variants.check(
        [variants.Variant(*spec) for spec in production],
        variants.Shadow(args.shadow[0], args.shadow[1], args.shadow_percent)
        if args.shadow
        else None,
    )
    capture = None
    if args.capture:
        if not args.endpoint:
            raise CommandError("--capture goes with --endpoint: captures are kept under its name")
        try:
            capture = CaptureWriter(args.capture, args.endpoint)
        except OSError as error:
            raise CommandError(
                f"cannot write captures to {args.capture}: {error.strerror}"
            ) from None
    return Traffic(production, args.shadow, args.shadow_percent, capture)


def target_models(args: argparse.Namespace) -> "TargetModels | None":
    """The multi-model endpoint's archives, when --model-data names them."""
    from scripts.lib.doors.target_models import TargetModels
    from scripts.lib.errors import CommandError

    if bool(args.model_data) != bool(args.models_dir):
        raise CommandError("--model-data and --models-dir go together")
    return TargetModels(args.model_data, args.models_dir, args.region) if args.model_data else None


def run_public(args: argparse.Namespace, cert: str, key: str) -> None:
    from container.door import responses
    from scripts.lib.doors import gateway, public_gateway
    from scripts.lib.errors import CommandError

    if bool(args.api_key) == bool(args.token_secret_env):
        raise CommandError("--public takes one auth mode: --api-key KEY or --token-secret-env NAME")
    if args.variant or args.shadow or args.capture:
        raise CommandError(
            "--variant, --shadow and --capture are SageMaker's runtime's, not --public's"
        )
    upstream = args.upstream or DEFAULT_UPSTREAM
    secret = None
    if args.token_secret_env:
        secret = os.environ.get(args.token_secret_env)
        if not secret:
            raise CommandError(f"the environment variable {args.token_secret_env} is not set")
    try:
        api = public_gateway.PublicGateway(
            upstream,
            stage=args.stage,
            api_keys=args.api_key,
            token_secret=secret,
            rate=args.rate,
            burst=args.burst,
            quota=args.quota,
            cors_origins=args.cors_origin,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    gateway.serve_https(
        api.application(),
        api.limits,
        responses.error_response,
        args.host,
        args.port,
        cert,
        key,
        lambda url: (
            f"{url}/{args.stage}/detect -> {upstream} ({api.auth}, "
            f"{args.rate:g}/s, burst {args.burst})"
        ),
    )
