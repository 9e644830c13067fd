"""sm-detect deploy: create or update a SageMaker endpoint and wait until it serves; real-time,
serverless or asynchronous, its traffic captured to S3 if asked."""

from scripts.commands.options import (
    add_aws_options,
    add_deploy_options,
    aws_session,
    deploy_from_args,
)
from scripts.option_types import s3_uri

SUMMARY = "create or update an endpoint"


def add_arguments(parser):
    add_deploy_options(parser)
    parser.add_argument("--model-data", type=s3_uri, required=True, help="s3://... model.tar.gz")
    parser.add_argument("--image", required=True, help="image URI, e.g. from `sm-detect push`")
    add_aws_options(parser)


def run(args):
    deploy_from_args(aws_session(args), args, args.model_data, args.image)
