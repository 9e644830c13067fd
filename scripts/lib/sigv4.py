"""Verify AWS Signature Version 4 on an incoming request, as SageMaker's front door does.

Written from AWS's published algorithm (canonical request -> string to sign -> HMAC chain), and
tested against signers that are not this module: botocore's and curl's ``--aws-sigv4``.
"""

import dataclasses
import datetime
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)/"
    r"(?P<service>[^/\s,]+)/aws4_request\s*,\s*SignedHeaders=(?P<headers>[a-z0-9\-;]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


class SignatureError(Exception):
    """Why a request is refused; ``code`` is AWS's error type for it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def canonical_uri(path):
    """The wire path, normalised and encoded again (every service but S3 double-encodes)."""
    segments = []
    for segment in unquote(path or "/").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    normalised = "/" + "/".join(segments) + ("/" if path.endswith("/") and segments else "")
    return quote(quote(normalised, safe="/~"), safe="/~")


def canonical_query(query):
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def canonical_headers(headers, signed):
    values = {}
    for name, value in headers:
        key = name.lower()
        if key in signed:
            value = " ".join(value.strip().split())
            values[key] = f"{values[key]},{value}" if key in values else value
    missing = [name for name in signed if name not in values]
    if missing:
        raise SignatureError(
            "IncompleteSignatureException",
            f"signed headers missing from the request: {', '.join(missing)}",
        )
    return "".join(f"{name}:{values[name]}\n" for name in signed)


def signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(
    method, path, query, headers, body, credentials_by_key, region, service="sagemaker", now=None
):
    """Check a request's SigV4 signature; returns the access key id or raises SignatureError.

    ``headers`` is a list of (name, value) pairs as received; ``credentials_by_key`` maps access
    key ids to ``Credentials``.
    """
    header_map = {}
    for name, value in headers:
        header_map.setdefault(name.lower(), value)
    authorization = header_map.get("authorization")
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = AUTHORIZATION.match(authorization)
    if not match:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header is not a valid AWS4-HMAC-SHA256 signature",
        )
    credentials = credentials_by_key.get(match["key"])
    if credentials is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if (match["region"], match["service"]) != (region, service):
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to {region}/{service}, "
            f"not {match['region']}/{match['service']}.",
        )
    amz_date = header_map.get("x-amz-date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException",
            "X-Amz-Date is missing or not in the form YYYYMMDDTHHMMSSZ",
        ) from None
    now = now or datetime.datetime.now(datetime.UTC)
    if abs(now - signed_at) > MAX_CLOCK_SKEW or amz_date[:8] != match["date"]:
        raise SignatureError(
            "InvalidSignatureException",
            "Signature expired: the request's date is more than 5 minutes "
            "from the server's clock, or does not match its credential scope.",
        )
    signed = match["headers"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError(
            "IncompleteSignatureException", "SignedHeaders must include host and x-amz-date"
        )
    if credentials.session_token is not None and (
        header_map.get("x-amz-security-token") != credentials.session_token
    ):
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    payload_hash = sha256_hex(body)
    declared = header_map.get("x-amz-content-sha256")
    if declared is not None and declared != payload_hash:
        raise SignatureError(
            "InvalidSignatureException", "The body does not match x-amz-content-sha256."
        )
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )
    scope = f"{match['date']}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, sha256_hex(canonical_request.encode())])
    key = signing_key(credentials.secret_key, match["date"], region, service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return credentials.access_key
