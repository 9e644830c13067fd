"""sm-detect gateway: SageMaker's signed HTTPS front door, on this machine."""


def add_parser(subcommands):
    parser = subcommands.add_parser(
        "gateway",
        help="a local, signature-checking SageMaker runtime in front of a server",
        description=__doc__,
    )
    parser.add_argument("--endpoint", required=True, help="the endpoint name it answers for")
    parser.add_argument(
        "--upstream",
        default="http://127.0.0.1:8080",
        help="the container or `sm-detect serve` (default: http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--port", type=int, default=8443, help="HTTPS port; 0 picks a free one (default: 8443)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--region", default="us-east-1", help="signing region (default: us-east-1)")
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help="AWS credentials file whose keys may sign (default: AWS_* env)",
    )
    parser.add_argument("--cert", help="TLS certificate (default: self-signed, made once)")
    parser.add_argument("--key", help="TLS private key for --cert")
    parser.add_argument("--cert-dir", help="where the self-signed certificate is kept")
    parser.set_defaults(run=run)


def run(args):
    from scripts.lib import certificates, gateway
    from scripts.lib.errors import CommandError

    if bool(args.cert) != bool(args.key):
        raise CommandError("--cert and --key go together")
    cert, key = (args.cert, args.key) if args.cert else certificates.self_signed(args.cert_dir)
    print(f"certificate: {cert}", flush=True)
    service = gateway.Gateway(
        args.endpoint, args.upstream, args.region, gateway.load_credentials(args.credentials)
    )
    gateway.run(service, args.host, args.port, cert, key)
