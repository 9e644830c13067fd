"""The Lambda authorizer's own code, in process, with real tokens and its secret in moto's SSM."""

import time

import boto3
import jwt
import pytest

from scripts.lib.authorizer import token_authorizer
from tests.helpers import AWS_REGION

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


def test_the_secret_is_read_once_per_cold_start(lambda_environment, monkeypatch):
    token = token_authorizer.mint("app", 60, SECRET)
    assert effect(invoke(f"Bearer {token}")) == "Allow"
    monkeypatch.setenv("SECRET_PARAMETER", "/no/such/parameter")  # not read again
    assert effect(invoke(f"Bearer {token}")) == "Allow"


def forged(claims, secret=SECRET, algorithm="HS256"):
    return jwt.encode(claims, secret, algorithm=algorithm)


NOW = int(time.time())


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {forged({'sub': 'app', 'exp': NOW - 10})}", id="expired"),
        pytest.param(
            f"Bearer {forged({'sub': 'app', 'exp': NOW + 60}, 'another-secret-of-32-bytes-xxxxx')}",
            id="wrong secret",
        ),
        pytest.param(f"Bearer {forged({'sub': 'app'})}", id="no expiry"),
        pytest.param(f"Bearer {forged({'exp': NOW + 60})}", id="no subject"),
        pytest.param(f"Bearer {forged({'sub': '', 'exp': NOW + 60})}", id="empty subject"),
        pytest.param(
            f"Bearer {forged({'sub': 'app', 'exp': NOW + 60}, '', 'none')}", id="alg none"
        ),
        pytest.param("", id="missing"),
        pytest.param("Basic dXNlcjpwYXNz", id="not bearer"),
        pytest.param("Bearer", id="bearer alone"),
        pytest.param("Bearer not.a.jwt", id="malformed"),
    ],
)
def test_bad_tokens_are_denied(lambda_environment, authorization):
    answer = invoke(authorization)
    assert effect(answer) == "Deny"
    assert "context" not in answer


def test_a_tampered_token_is_denied(lambda_environment):
    header, payload, signature = token_authorizer.mint("app", 60, SECRET).split(".")
    other_payload = forged({"sub": "admin", "exp": NOW + 60}).split(".")[1]
    assert effect(invoke(f"Bearer {header}.{other_payload}.{signature}")) == "Deny"
    assert payload != other_payload


def test_denials_are_logged_without_the_token(lambda_environment, capsys):
    token = forged({"sub": "app", "exp": NOW - 10})
    invoke(f"Bearer {token}")
    logged = capsys.readouterr().out
    assert "expired" in logged and token not in logged
