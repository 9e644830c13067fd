"""A Lambda TOKEN authorizer for the public API: it lets in a request whose bearer token is a
JWT signed with the API's secret (HS256, checked by PyJWT), naming a subject and not expired.

The secret is a SecureString in SSM Parameter Store, named by the function's SECRET_PARAMETER
variable, read once per cold start. API Gateway caches each token's answer for the authorizer's
TTL, so the policy allows the whole stage, not only the method first called. This module is
self-contained (the Lambda zip holds it and PyJWT only); ``sm-detect gateway --public`` calls
``subject_of`` in process, and ``sm-detect token`` calls ``mint``.
"""

import json
import os
import time

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub")
_secret = None


class Denied(Exception):
    """Why a token does not let its request in (logged, never shown with the token)."""


def secret():
    """The signing secret from SSM, fetched at the first request of this instance."""
    global _secret
    if _secret is None:
        import boto3  # present in Lambda's Python runtime

        parameter = boto3.client("ssm").get_parameter(
            Name=os.environ["SECRET_PARAMETER"], WithDecryption=True
        )
        _secret = parameter["Parameter"]["Value"]
    return _secret


def subject_of(authorization, signing_secret):
    """The subject of ``Authorization: Bearer <JWT>``; ``Denied`` says why not."""
    scheme, _, token = (authorization or "").strip().partition(" ")
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


def mint(subject, ttl_seconds, signing_secret, now=None):
    """A token for ``subject`` that expires ``ttl_seconds`` from ``now``."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "iat": issued, "exp": issued + int(ttl_seconds)}
    return jwt.encode(claims, signing_secret, algorithm=ALGORITHM)


def policy(principal, effect, method_arn):
    """The IAM policy API Gateway enforces: every method of the caller's API stage."""
    # arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/RESOURCE -> .../API_ID/STAGE/*
    stage = "/".join(method_arn.split("/")[:2])
    document = {
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
    return document


def handler(event, _context):
    """Lambda's entry point for a TOKEN authorizer event."""
    try:
        subject = subject_of(event.get("authorizationToken"), secret())
    except Denied as denied:
        print(json.dumps({"denied": str(denied)}))  # to CloudWatch Logs; the token is not logged
        return policy("anonymous", "Deny", event["methodArn"])
    return policy(subject, "Allow", event["methodArn"])
