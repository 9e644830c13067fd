"""S3: upload a model archive once, with progress; the same content is never sent twice."""

import hashlib
import os
from collections.abc import Iterable
from urllib.parse import urlparse

from boto3.s3.transfer import TransferConfig
from tqdm import tqdm

from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

CHECKSUM_KEY = "sha256"  # object metadata: x-amz-meta-sha256
TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024
)


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise CommandError(f"{uri} is not an s3://BUCKET/KEY address")
    return parsed.netloc, parsed.path.lstrip("/")


def object_uri(destination: str, path: str) -> str:
    """A destination ending in ``/`` is a prefix: the file keeps its name under it."""
    bucket, key = parse_uri(destination)
    if not key or key.endswith("/"):
        key += os.path.basename(path)
    return f"s3://{bucket}/{key}"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_bucket(aws: Aws, bucket: str, create: bool) -> None:
    s3 = aws.client("s3")
    if get_or_none(s3.head_bucket, Bucket=bucket) is not None:
        return
    if not create:
        raise CommandError(f"bucket {bucket} does not exist", remedy="create_bucket")
    options = (
        {}
        if aws.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    )
    s3.create_bucket(Bucket=bucket, **options)
    say(f"created bucket {bucket}")


def stored_checksum(aws: Aws, bucket: str, key: str) -> str | None:
    head = get_or_none(aws.client("s3").head_object, Bucket=bucket, Key=key)
    return head.get("Metadata", {}).get(CHECKSUM_KEY) if head else None


def upload(aws: Aws, path: str, destination: str, create_bucket: bool = False) -> str:
    """Upload ``path``; returns the object's s3:// URI. Skipped when the same bytes are there."""
    uri = object_uri(destination, path)
    bucket, key = parse_uri(uri)
    if aws.dry_run:
        return plan_upload(aws, path, uri, bucket, create_bucket)
    if not os.path.isfile(path):
        raise CommandError(f"{path} does not exist")
    ensure_bucket(aws, bucket, create_bucket)
    checksum = sha256_of(path)
    if stored_checksum(aws, bucket, key) == checksum:
        say(f"{uri} already holds this archive (sha256 {checksum[:12]}): upload skipped")
        return uri
    size = os.path.getsize(path)
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"uploading to {uri}") as bar:
        aws.client("s3").upload_file(
            path,
            bucket,
            key,
            Config=TRANSFER,
            Callback=bar.update,
            ExtraArgs={"Metadata": {CHECKSUM_KEY: checksum}},
        )
    say(f"uploaded {uri} ({size / 1e6:.1f} MB)")
    return uri


def plan_upload(aws: Aws, path: str, uri: str, bucket: str, create_bucket: bool) -> str:
    """A dry run's account of ``upload``: what it would check and send."""
    if create_bucket:
        say(f"[dry run] would create bucket {bucket} if it does not exist")
    if os.path.isfile(path):
        size = f"{os.path.getsize(path) / 1e6:.1f} MB, sha256 {sha256_of(path)[:12]}"
    else:
        size = "not made yet"
    say(f"[dry run] would upload {path} ({size}) to {uri}, unless it already holds these bytes")
    aws.client("s3").upload_file(path, bucket, parse_uri(uri)[1])
    return uri


def delete_objects(aws: Aws, uris: Iterable[str]) -> None:
    for uri in sorted(uris):
        bucket, key = parse_uri(uri)
        aws.client("s3").delete_object(Bucket=bucket, Key=key)
        say(f"deleted {uri}")
