"""sm-detect deploy: create or update a SageMaker endpoint and wait until it serves; real-time,
serverless or asynchronous, its traffic captured to S3 if asked; several models sharing its
traffic, a shadow answering copies of it, and an update that rolls itself back on an alarm."""

import argparse

from scripts.commands.options import (
    add_aws_options,
    add_deploy_options,
    aws_session,
    deploy_from_args,
)
from scripts.option_types import s3_uri, shadow, variant, whole_number

SUMMARY = "create or update an endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_deploy_options(parser)
    models = parser.add_mutually_exclusive_group(required=True)
    models.add_argument("--model-data", type=s3_uri, help="s3://... model.tar.gz")
    models.add_argument(
        "--variant",
        type=variant,
        action="append",
        metavar="NAME[:WEIGHT]=S3_URI",
        help="a production variant and its share of the traffic (weight, default 1), e.g. "
        "fp32:90=s3://b/fp32.tar.gz (repeatable)",
    )
    parser.add_argument("--image", required=True, help="image URI, e.g. from `sm-detect push`")
    testing = parser.add_argument_group(
        "shadow test (a copy of the requests answered by another model, captured, not returned)"
    )
    testing.add_argument("--shadow", type=shadow, metavar="NAME=S3_URI", help="the shadow variant")
    testing.add_argument(
        "--shadow-percent",
        type=whole_number(1, 100),
        default=100,
        help="share of the requests copied to the shadow",
    )
    guarded = parser.add_argument_group(
        "guarded update of a serving endpoint (blue/green, rolled back by SageMaker on an alarm)"
    )
    shift = guarded.add_mutually_exclusive_group()
    shift.add_argument(
        "--canary", type=whole_number(1, 100), metavar="PERCENT", help="move this share first"
    )
    shift.add_argument(
        "--linear", type=whole_number(1, 100), metavar="PERCENT", help="move this share per step"
    )
    guarded.add_argument(
        "--bake", type=whole_number(0, 3600), metavar="SECONDS", help="how long the canary serves"
    )
    guarded.add_argument(
        "--step-wait",
        type=whole_number(0, 3600),
        metavar="SECONDS",
        help="how long each linear step serves",
    )
    guarded.add_argument(
        "--rollback-alarm",
        action="append",
        default=[],
        metavar="NAME",
        help="a CloudWatch alarm that rolls the update back (repeatable; default: alarms made on "
        "each variant's invocation 5xx errors and model latency)",
    )
    guarded.add_argument(
        "--latency-alarm-ms",
        type=whole_number(1),
        default=5000,
        metavar="MS",
        help="the model latency (average over a minute) the default alarm fires at",
    )
    add_aws_options(parser)


def run(args: argparse.Namespace) -> None:
    from scripts.lib.cloud import guarded, variants
    from scripts.lib.errors import CommandError

    def archive(uri: str) -> str:
        try:
            return s3_uri(uri)
        except argparse.ArgumentTypeError as error:
            raise CommandError(f"--variant/--shadow {error}") from None

    model_data = args.model_data or [
        variants.Variant(name, weight, archive(uri)) for name, weight, uri in args.variant
    ]
    test = None
    if args.shadow:
        test = variants.Shadow(args.shadow[0], archive(args.shadow[1]), args.shadow_percent)
    elif args.shadow_percent != 100:
        raise CommandError("--shadow-percent goes with --shadow")
    update = None
    if args.canary or args.linear:
        wait = args.bake if args.canary else args.step_wait
        if wait is None:
            raise CommandError("--canary takes --bake SECONDS; --linear takes --step-wait SECONDS")
        update = guarded.GuardedUpdate(
            guarded.CANARY if args.canary else guarded.LINEAR,
            args.canary or args.linear,
            wait,
            tuple(args.rollback_alarm),
            args.latency_alarm_ms,
        )
    elif args.bake is not None or args.step_wait is not None or args.rollback_alarm:
        raise CommandError("--bake, --step-wait and --rollback-alarm go with --canary or --linear")
    deploy_from_args(
        aws_session(args), args, model_data, args.image, shadow=test, guarded_update=update
    )
