"""sm-detect push: push the image to ECR (created if missing) or to any registry."""

from scripts.lib.cloud import aws

SUMMARY = "push the image to ECR"


def add_arguments(parser):
    add_push_options(parser)
    aws.add_options(parser)


def add_push_options(parser):
    parser.add_argument("--image", default="sm-detect:latest", help="local image")
    parser.add_argument("--repository", default="sm-detect", help="repository")
    parser.add_argument("--tag", default="latest", help="remote tag")
    parser.add_argument("--registry", help="push to this registry HOST[:PORT] instead of ECR")


def run(args):
    from scripts.lib.cloud import push

    with aws.one_line_errors():
        print(push.push(aws.from_args(args), args.image, args.repository, args.tag, args.registry))
