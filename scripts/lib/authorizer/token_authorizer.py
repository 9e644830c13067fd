"""A Lambda TOKEN authorizer for the public API: it lets in a request whose bearer token is a
JWT signed with the API's secret (HS256, checked by PyJWT), naming a subject and not expired.

The secret is a SecureString in SSM Parameter Store, named by the function's SECRET_PARAMETER
variable, read once per cold start, and at least 32 bytes (HS256's key should be as long as its
hash; PyJWT warns below that). API Gateway caches each token's answer for the authorizer's
TTL, so the policy allows the whole stage, not only the method first called.

Each subject is throttled on its own: the answer names a usage identifier key, an API key value
derived from the secret and the subject (``usage_key``), which API Gateway (``apiKeySource``
AUTHORIZER) looks up in the API's usage plan; ``sm-detect token`` puts that key in the plan when
it mints the subject's first token. A subject without one is refused by API Gateway, not here.

This module is self-contained (the Lambda zip holds it and PyJWT only); ``sm-detect gateway
--public`` calls ``subject_of`` in process, and ``sm-detect token`` calls ``mint``.
"""

import hashlib
import hmac
import json
import os
import time
from typing import Any

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub")
MIN_SECRET_BYTES = 32
MAX_TTL_SECONDS = 30 * 24 * 3600  # a token that outlives a month is a password: rotate
_secret: str | None = None


class Denied(Exception):
    """Why a token does not let its request in (logged, never shown with the token)."""


def secret() -> str:
    """The signing secret from SSM, fetched at the first request of this instance."""
    global _secret
    if _secret is None:
        import boto3  # present in Lambda's Python runtime

        parameter = boto3.client("ssm").get_parameter(
            Name=os.environ["SECRET_PARAMETER"], WithDecryption=True
        )
        _secret = parameter["Parameter"]["Value"]
    return _secret


def check_secret(signing_secret: str) -> None:
    """``ValueError`` for a secret too short to sign tokens with."""
    if len(signing_secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(
            f"a token secret has at least {MIN_SECRET_BYTES} bytes (got "
            f"{len(signing_secret.encode('utf-8'))}); make one with e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


def usage_key(subject: str, signing_secret: str) -> str:
    """The API key value that counts ``subject``'s requests in the API's usage plan."""
    digest = hmac.new(
        signing_secret.encode("utf-8"), b"usage-key\0" + subject.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:40]


def subject_of(authorization: str | None, signing_secret: str) -> str:
    """The subject of ``Authorization: Bearer <JWT>``; ``Denied`` says why not."""
    import jwt  # here, not at the top: the command line reads this module's limits without it

    authorization = authorization or ""
    if not (authorization.isascii() and authorization.isprintable()):
        raise Denied("the header is not printable ASCII")
    scheme, _, token = authorization.strip().partition(" ")
    if not scheme:
        raise Denied("no token")
    if scheme.lower() != "bearer" or not token.strip():
        raise Denied("not a bearer token")
    try:
        claims = jwt.decode(
            token.strip(),
            signing_secret,
            algorithms=[ALGORITHM],
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise Denied("the token has expired") from None
    except jwt.InvalidTokenError as error:
        raise Denied(f"the token is not valid: {error}") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Denied("the token names no subject")
    return subject


def mint(subject: str, ttl_seconds: int, signing_secret: str, now: float | None = None) -> str:
    """A token for ``subject`` that expires ``ttl_seconds`` from ``now``."""
    import jwt

    check_secret(signing_secret)
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a token lives 1 to {MAX_TTL_SECONDS} seconds, not {ttl_seconds}")
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "iat": issued, "exp": issued + int(ttl_seconds)}
    return jwt.encode(claims, signing_secret, algorithm=ALGORITHM)


def policy(
    principal: str, effect: str, method_arn: str, usage_identifier_key: str | None = None
) -> dict[str, Any]:
    """The IAM policy API Gateway enforces: every method of the caller's API stage."""
    # arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/RESOURCE -> .../API_ID/STAGE/*
    stage = "/".join(method_arn.split("/")[:2])
    document: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": f"{stage}/*"}
            ],
        },
    }
    if effect == "Allow":
        document["context"] = {"subject": principal}
    if usage_identifier_key:
        document["usageIdentifierKey"] = usage_identifier_key
    return document


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    """Lambda's entry point for a TOKEN authorizer event."""
    try:
        subject = subject_of(event.get("authorizationToken"), secret())
    except Denied as denied:
        print(json.dumps({"denied": str(denied)}))  # to CloudWatch Logs; the token is not logged
        return policy("anonymous", "Deny", event["methodArn"])
    return policy(subject, "Allow", event["methodArn"], usage_key(subject, secret()))
