"""Sources: the bytes of an image a JSON request names, inline as base64 or as an S3 object.

S3 is read with the endpoint's own credentials (its execution role on SageMaker, boto3's usual
chain elsewhere), so it is off unless the endpoint lists the buckets it may read: any caller
could otherwise make the endpoint read whatever its role can. Only ``s3://`` URIs are read;
other URLs are never fetched, so a caller cannot make the endpoint call addresses inside its
network. Each read is bounded in size and time, and each failure is a 4xx naming its reason.
"""

import base64
import binascii
import dataclasses
import functools
import re
from typing import Any

from inference.errors import (
    InvalidInput,
    PayloadTooLarge,
    S3AccessDenied,
    S3BucketNotAllowed,
    S3ObjectNotFound,
    S3Timeout,
)

BUCKETS_VARIABLE = "SM_DETECT_S3_BUCKETS"
S3_SCHEME = "s3://"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024  # S3's own limit on a key
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 5
ATTEMPTS = 2  # so that a read takes at most about 2 x (3 + 5) s
NOT_FOUND = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
DENIED = ("AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState")


@dataclasses.dataclass(frozen=True)
class S3Access:
    """The buckets images may be read from (none: S3 input is off) and the largest object read."""

    buckets: frozenset[str] = frozenset()
    max_bytes: int = 15 << 20


NO_S3 = S3Access()


def valid_bucket(name: str) -> bool:
    return bool(BUCKET_NAME.fullmatch(name)) and ".." not in name


def inline_image(text: object) -> bytes:
    """The bytes of ``{"image": "<base64>"}``'s value."""
    if not isinstance(text, str):
        raise InvalidInput('"image" must be a string of base64')
    try:
        image_bytes = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput('"image" is not valid base64') from None
    if not image_bytes:
        raise InvalidInput('"image" is empty')
    return image_bytes


def parse_s3_uri(uri: object) -> tuple[str, str]:
    """``'s3://bucket/key'`` -> (bucket, key); anything else is a 400."""
    if not isinstance(uri, str) or not uri.startswith(S3_SCHEME):
        raise InvalidInput(
            '"s3_uri" must be an s3://bucket/key URI; other URLs are not fetched'
            if isinstance(uri, str)
            else '"s3_uri" must be a string'
        )
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not valid_bucket(bucket) or not key or len(key.encode("utf-8", "replace")) > MAX_KEY_BYTES:
        raise InvalidInput(f"{uri[:200]!r} is not an s3://bucket/key URI")
    return bucket, key


def s3_object(uri: object, access: S3Access) -> bytes:
    """The object ``uri`` names, if its bucket is listed and it is at most ``access.max_bytes``."""
    bucket, key = parse_s3_uri(uri)
    if bucket not in access.buckets:
        raise S3BucketNotAllowed(
            f"this endpoint does not read from bucket {bucket!r}"
            + (
                "; it reads from " + ", ".join(sorted(access.buckets))
                if access.buckets
                else ": S3 input is off (SM_DETECT_S3_BUCKETS lists no bucket)"
            )
        )
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    where = f"s3://{bucket}/{key}"[:300]
    try:
        answer = s3_client().get_object(Bucket=bucket, Key=key)
        size = answer["ContentLength"]
        if size > access.max_bytes:
            answer["Body"].close()
            raise too_large(where, size, access)
        body = answer["Body"].read(access.max_bytes + 1)
        answer["Body"].close()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in NOT_FOUND:
            raise S3ObjectNotFound(f"{where} does not exist") from None
        if code in DENIED:
            raise S3AccessDenied(f"the endpoint's role may not read {where}") from None
        raise InvalidInput(f"{where} could not be read: {code}") from None
    except NoCredentialsError:
        raise S3AccessDenied(f"the endpoint has no AWS credentials to read {where}") from None
    except (ReadTimeoutError, ConnectionError):
        raise S3Timeout(f"S3 did not answer in time for {where}") from None
    except BotoCoreError as error:
        raise InvalidInput(f"{where} could not be read: {type(error).__name__}") from None
    if len(body) > access.max_bytes:
        raise too_large(where, len(body), access)
    if not body:
        raise InvalidInput(f"{where} is empty")
    return body


def too_large(where: str, size: int, access: S3Access) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{where} has {size} bytes, more than this endpoint reads from S3 "
        f"({access.max_bytes >> 20} MB, SM_DETECT_S3_MAX_MB)"
    )


@functools.cache
def s3_client() -> Any:
    """One S3 client per process, its waits bounded; boto3's usual credentials and endpoint
    (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` point it at a stand-in)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        ),
    )
