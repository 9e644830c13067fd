"""sm-detect teardown: delete an endpoint and what was created for it."""

from scripts.lib.cloud import aws
from scripts.option_types import endpoint_name

SUMMARY = "delete an endpoint and its resources"


def add_arguments(parser):
    parser.add_argument("--endpoint", type=endpoint_name, required=True, help="endpoint name")
    parser.add_argument(
        "--all", action="store_true", help="also the model archives in S3 and the ECR repository"
    )
    aws.add_options(parser)


def run(args):
    from scripts.lib.cloud import endpoint, public_api, push, s3, scale

    if args.dry_run:
        endpoint.plan_teardown(args.endpoint, args.all)
        return
    with aws.one_line_errors():
        session = aws.from_args(args)
        public_api.Exposure(session, args.endpoint).remove()
        scale.remove(session, args.endpoint)
        containers = endpoint.teardown(session, args.endpoint)
        if args.all:
            s3.delete_objects(
                session, {c["ModelDataUrl"] for c in containers if c.get("ModelDataUrl")}
            )
            push.delete_repositories(session, {c["Image"] for c in containers if c.get("Image")})
