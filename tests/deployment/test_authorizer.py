"""The Lambda authorizer's own code, in process, with real tokens and its secret in moto's SSM."""

import hashlib
import hmac
import json
import time

import boto3
import jwt
import pytest

from scripts.lib.authorizer import token_authorizer
from tests.helpers import AWS_REGION

pytestmark = pytest.mark.aws

SECRET = "a-secret-of-thirty-two-bytes-xxxx"  # pragma: allowlist secret
METHOD_ARN = f"arn:aws:execute-api:{AWS_REGION}:123456789012:abc123/prod/POST/detect"


@pytest.fixture
def lambda_environment(aws_env, monkeypatch):
    """The function as Lambda runs it: its secret in SSM, named by SECRET_PARAMETER."""
    boto3.client("ssm", region_name=AWS_REGION).put_parameter(
        Name="/sm-detect/yolo/token-secret", Type="SecureString", Value=SECRET, Overwrite=True
    )
    monkeypatch.setenv("SECRET_PARAMETER", "/sm-detect/yolo/token-secret")
    monkeypatch.setattr(token_authorizer, "_secret", None)  # a cold start


def invoke(authorization):
    event = {"type": "TOKEN", "authorizationToken": authorization, "methodArn": METHOD_ARN}
    return token_authorizer.handler(event, None)


def effect(answer):
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    # the answer is cached per token for the whole stage, so it covers the whole stage
    assert statement["Resource"] == f"arn:aws:execute-api:{AWS_REGION}:123456789012:abc123/prod/*"
    return statement["Effect"]


def test_a_valid_token_is_allowed_with_its_subject(lambda_environment):
    token = token_authorizer.mint("mobile-app", 60, SECRET)
    answer = invoke(f"Bearer {token}")
    assert effect(answer) == "Allow"
    assert answer["principalId"] == "mobile-app"
    assert answer["context"] == {"subject": "mobile-app"}


def test_each_subject_is_counted_under_its_own_usage_key(lambda_environment):
    keys = {
        subject: invoke(f"Bearer {token_authorizer.mint(subject, 60, SECRET)}")[
            "usageIdentifierKey"
        ]
        for subject in ("web-app", "phone-app")
    }
    assert keys["web-app"] != keys["phone-app"]
    # the key `sm-detect token` puts in the usage plan: HMAC-SHA256 of the subject, by the secret
    expected = hmac.new(SECRET.encode(), b"usage-key\0web-app", hashlib.sha256).hexdigest()[:40]
    assert keys["web-app"] == expected and len(expected) >= 20  # API Gateway's minimum


@pytest.mark.parametrize("secret", ["", "abc", "x" * 31])
def test_short_secrets_sign_nothing(secret):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        token_authorizer.mint("app", 60, secret)


@pytest.mark.parametrize("ttl", [0, -1, token_authorizer.MAX_TTL_SECONDS + 1, 10**20])
def test_a_token_lives_at_most_a_month(ttl):
    with pytest.raises(ValueError, match="lives 1 to"):
        token_authorizer.mint("app", ttl, SECRET)


def test_the_secret_is_read_once_per_cold_start(lambda_environment, monkeypatch):
    token = token_authorizer.mint("app", 60, SECRET)
    assert effect(invoke(f"Bearer {token}")) == "Allow"
    monkeypatch.setenv("SECRET_PARAMETER", "/no/such/parameter")  # not read again
    assert effect(invoke(f"Bearer {token}")) == "Allow"


def forged(claims, secret=SECRET, algorithm="HS256"):
    return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(claims, secret=SECRET, algorithm="HS256"):
    """``Bearer <JWT>`` with ``exp`` given as seconds from now, as a test builds it."""
    claims = dict(claims)
    if "exp" in claims:
        claims["exp"] += int(time.time())
    return f"Bearer {forged(claims, secret, algorithm)}"


# each way in which a token is refused, and the reason the authorizer logs for it: a denial for
# another reason (an expiry, say) would not show that this one is checked
REFUSED = {
    "expired": (lambda: bearer({"sub": "app", "exp": -10}), "expired"),
    "wrong secret": (
        lambda: bearer({"sub": "app", "exp": 60}, "another-secret-of-32-bytes-xxxxx"),
        "Signature verification failed",
    ),
    "no expiry": (lambda: bearer({"sub": "app"}), 'missing the "exp" claim'),
    "no subject": (lambda: bearer({"exp": 60}), 'missing the "sub" claim'),
    "empty subject": (lambda: bearer({"sub": "", "exp": 60}), "names no subject"),
    "alg none": (lambda: bearer({"sub": "app", "exp": 60}, "", "none"), "not allowed"),
    "missing": (lambda: "", "no token"),
    "not bearer": (lambda: "Basic dXNlcjpwYXNz", "not a bearer token"),
    "bearer alone": (lambda: "Bearer", "not a bearer token"),
    "malformed": (lambda: "Bearer not.a.jwt", "not valid"),
    "undecodable bytes": (lambda: "Bearer \udcff\udcfe", "not printable ASCII"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_tokens_are_denied_for_their_own_reason(lambda_environment, capsys, case):
    make, reason = REFUSED[case]
    answer = invoke(make())
    assert effect(answer) == "Deny"
    assert "context" not in answer and "usageIdentifierKey" not in answer
    assert reason in json.loads(capsys.readouterr().out)["denied"]


def test_a_tampered_token_is_denied(lambda_environment):
    header, payload, signature = token_authorizer.mint("app", 60, SECRET).split(".")
    other_payload = bearer({"sub": "admin", "exp": 60}).split(".")[1]
    assert effect(invoke(f"Bearer {header}.{other_payload}.{signature}")) == "Deny"
    assert payload != other_payload


def test_denials_are_logged_without_the_token(lambda_environment, capsys):
    token = bearer({"sub": "app", "exp": -10}).split()[1]
    invoke(f"Bearer {token}")
    logged = capsys.readouterr().out
    assert "expired" in logged and token not in logged
