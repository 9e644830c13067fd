"""Verify AWS Signature Version 4 on an incoming request, as SageMaker's front door does.

Written from AWS's published algorithm (canonical request -> string to sign -> HMAC chain), and
tested against signers that are not this module: botocore's and curl's ``--aws-sigv4``.
"""

import dataclasses
import datetime
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote

Headers = Sequence[tuple[str, str]]  # (name, value) pairs as received, repeats kept

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

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_uri(raw_path: str) -> str:
    """The path as sent, dot segments and empty segments removed, then encoded once more.

    This is botocore's canonical form for every service but S3: the client percent-encodes the
    path once to send it and signs that encoded again, so the verifier must start from the raw
    path. Decoding it first would let ``/endpoints/yol%6F/...`` pass for ``/endpoints/yolo/...``.
    """
    return quote(remove_dot_segments(raw_path or "/"), safe="/~")


def remove_dot_segments(path: str) -> str:
    """RFC 3986's dot-segment removal, with empty segments dropped as AWS does."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return ("/" if path.startswith("/") else "") + "/".join(segments) + trailing


def canonical_queries(raw_query: str) -> list[str]:
    """The canonical query strings a signer may have used for ``raw_query``.

    AWS's specification encodes each decoded name and value (curl does); botocore signs a query
    that is already in the URL as it stands, pairs sorted. Both are accepted; either way the
    signature covers exactly this request's query.
    """
    pairs = [pair.partition("=")[::2] for pair in raw_query.split("&") if pair] if raw_query else []
    as_sent = "&".join(f"{key}={value}" for key, value in sorted(pairs))
    encoded = sorted(
        (quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~"))
        for key, value in pairs
    )
    by_specification = "&".join(f"{key}={value}" for key, value in encoded)
    return [by_specification] if by_specification == as_sent else [by_specification, as_sent]


def canonical_headers(headers: Headers, signed: Sequence[str]) -> str:
    values: dict[str, str] = {}
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


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclasses.dataclass(frozen=True)
class Authorization:
    """What the Authorization header claims, checked against everything but the body."""

    credentials: Credentials
    date: str  # YYYYMMDD of the credential scope
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str


def authorize(
    headers: Headers,
    credentials_by_key: Mapping[str, Credentials],
    region: str,
    service: str = "sagemaker",
    now: datetime.datetime | None = None,
) -> Authorization:
    """Check the signature's headers before any body is read; raises SignatureError.

    ``headers`` is a list of (name, value) pairs as received; ``credentials_by_key`` maps access
    key ids to ``Credentials``. Presence, form, key, scope, date and session token are checked:
    an unsigned or unknown request is refused without reading its body.
    """
    header_map: dict[str, str] = {}
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
    signed = tuple(match["headers"].split(";"))
    if "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError(
            "IncompleteSignatureException", "SignedHeaders must include host and x-amz-date"
        )
    # a token must be the key's own; a key without one takes no token at all
    if header_map.get("x-amz-security-token") != credentials.session_token:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    return Authorization(credentials, match["date"], amz_date, signed, match["signature"])


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    body: bytes,
    credentials_by_key: Mapping[str, Credentials],
    region: str,
    service: str = "sagemaker",
    now: datetime.datetime | None = None,
    authorization: Authorization | None = None,
) -> str:
    """Check a request's SigV4 signature; returns the access key id or raises SignatureError.

    ``raw_path`` and ``raw_query`` are as sent (still percent-encoded), ``body`` the bytes as
    sent; ``authorization`` is ``authorize``'s result when the caller checked it already.
    """
    claim = authorization or authorize(headers, credentials_by_key, region, service, now)
    payload_hash = sha256_hex(body)
    declared = dict((name.lower(), value) for name, value in headers).get("x-amz-content-sha256")
    if declared is not None and declared != payload_hash:
        raise SignatureError(
            "InvalidSignatureException", "The body does not match x-amz-content-sha256."
        )
    scope = f"{claim.date}/{region}/{service}/aws4_request"
    key = signing_key(claim.credentials.secret_key, claim.date, region, service)
    headers_part = canonical_headers(headers, claim.signed_headers)
    for query in canonical_queries(raw_query):
        canonical_request = "\n".join(
            [
                method.upper(),
                canonical_uri(raw_path),
                query,
                headers_part,
                ";".join(claim.signed_headers),
                payload_hash,
            ]
        )
        # header values are compared as the bytes that were sent
        digest = sha256_hex(canonical_request.encode("utf-8", "surrogateescape"))
        string_to_sign = "\n".join([ALGORITHM, claim.amz_date, scope, digest])
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, claim.signature):
            return claim.credentials.access_key
    raise SignatureError(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    )
