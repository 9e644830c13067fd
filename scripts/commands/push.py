"""sm-detect push: push the image to ECR (created if missing) or to any registry."""

from scripts.lib import aws


def add_parser(subcommands):
    parser = subcommands.add_parser("push", help="push the image to ECR", description=__doc__)
    add_push_options(parser)
    aws.add_options(parser)
    parser.set_defaults(run=run)


def add_push_options(parser):
    parser.add_argument(
        "--image", default="sm-detect:latest", help="local image (default: sm-detect:latest)"
    )
    parser.add_argument("--repository", default="sm-detect", help="repository (default: sm-detect)")
    parser.add_argument("--tag", default="latest", help="remote tag (default: latest)")
    parser.add_argument("--registry", help="push to this registry HOST[:PORT] instead of ECR")


def run(args):
    from scripts.lib import registry

    with aws.one_line_errors():
        print(
            registry.push(aws.from_args(args), args.image, args.repository, args.tag, args.registry)
        )
