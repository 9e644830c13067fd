"""Signed clients against the local SageMaker front door, in front of the real server.

Signers that are not ours: boto3's sagemaker-runtime client, botocore's SigV4Auth (through the
library function for apps) and curl's own ``--aws-sigv4``. A verifier that only agreed with
itself would fail these.
"""

import datetime
import json
import os
import pathlib
import re
import subprocess
import sys

import boto3
import botocore.auth
import pytest
import requests
from botocore.exceptions import ClientError

from inference.headers import TARGET_MODEL, TARGET_VARIANT
from scripts.lib.clients import sigv4_signer
from scripts.lib.doors import sigv4_verifier
from tests.helpers import REPO, SM_DETECT
from tests.servers import start_gateway, wait_until

pytestmark = pytest.mark.server
REGION = "us-west-2"
ENDPOINT = "yolo-local"
KEY, SECRET = "AKIDLOCALTESTKEY0001", "local-test-secret-not-a-real-one"  # pragma: allowlist secret
TEMP_KEY, TEMP_SECRET, TOKEN = "ASIDLOCALTESTKEY0002", "temporary-test-secret", "session-token-x"


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    root = tmp_path_factory.mktemp("gateway")
    (root / "credentials").write_text(
        f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n\n"
        f"[temporary]\naws_access_key_id = {TEMP_KEY}\naws_secret_access_key = {TEMP_SECRET}\n"
        f"aws_session_token = {TOKEN}\n"
    )
    running = start_gateway(
        server.url, root, ENDPOINT, REGION, ["--credentials", str(root / "credentials")]
    )
    yield running
    running.stop()


def runtime(gateway, key=KEY, secret=SECRET, token=None):
    session = boto3.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    )
    return session.client("sagemaker-runtime", endpoint_url=gateway.url, verify=gateway.cert)


def forwarded_count(gateway):
    return gateway.log.count(" forwarded ")


def test_boto3_invokes_through_the_gateway(gateway, astronaut_jpeg):
    response = runtime(gateway).invoke_endpoint(
        EndpointName=ENDPOINT,
        Body=astronaut_jpeg,
        ContentType="image/jpeg",
        Accept="application/json",
        CustomAttributes="threshold=0,max_detections=2",
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    document = json.loads(response["Body"].read())
    assert document["image"] == {"width": 512, "height": 512}
    assert len(document["detections"]) == 2


def test_session_tokens(gateway, astronaut_jpeg):
    good = runtime(gateway, TEMP_KEY, TEMP_SECRET, TOKEN).invoke_endpoint(
        EndpointName=ENDPOINT, Body=astronaut_jpeg, ContentType="image/jpeg"
    )
    assert good["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as refused:
        runtime(gateway, TEMP_KEY, TEMP_SECRET, "another-token").invoke_endpoint(
            EndpointName=ENDPOINT, Body=astronaut_jpeg, ContentType="image/jpeg"
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_curl_signs_independently(gateway, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "--cacert",
            gateway.cert,
            "--aws-sigv4",
            f"aws:amz:{REGION}:sagemaker",
            "--user",
            f"{KEY}:{SECRET}",
            "-H",
            "Content-Type: image/jpeg",
            "--data-binary",
            f"@{image}",
            f"{gateway.url}/endpoints/{ENDPOINT}/invocations",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["image"] == {"width": 512, "height": 512}


def test_library_function_for_apps(gateway, astronaut_jpeg):
    session = boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    response = sigv4_signer.invoke_endpoint(
        ENDPOINT,
        astronaut_jpeg,
        REGION,
        session=session,
        endpoint_url=gateway.url,
        verify=gateway.cert,
        custom_attributes="threshold=0,max_detections=1",
    )
    assert response.status_code == 200
    assert len(response.json()["detections"]) == 1


def assert_refused(gateway, send, status, error_type):
    before = forwarded_count(gateway)
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"].startswith(error_type)
    assert response.json()["message"]
    assert forwarded_count(gateway) == before  # nothing reached the model


def signed(gateway, body, secret=SECRET, key=KEY, endpoint=ENDPOINT, **options):
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret)
    return sigv4_signer.signed_request(
        endpoint, body, REGION, session=session, endpoint_url=gateway.url, **options
    )


def send(gateway, prepared):
    with requests.Session() as http:
        return http.send(prepared, verify=gateway.cert, timeout=60)


def test_wrong_secret(gateway, astronaut_jpeg):
    assert_refused(
        gateway,
        lambda: send(gateway, signed(gateway, astronaut_jpeg, "wrong")),
        403,
        "InvalidSignatureException",
    )


def test_unknown_key(gateway, astronaut_jpeg):
    assert_refused(
        gateway,
        lambda: send(gateway, signed(gateway, astronaut_jpeg, key="AKIDUNKNOWNKEY000000")),
        403,
        "UnrecognizedClientException",
    )


def test_tampered_body(gateway, astronaut_jpeg):
    prepared = signed(gateway, astronaut_jpeg)
    prepared.body = astronaut_jpeg[:-1] + b"\0"
    assert_refused(gateway, lambda: send(gateway, prepared), 403, "InvalidSignatureException")


def test_tampered_signed_header(gateway, astronaut_jpeg):
    prepared = signed(gateway, astronaut_jpeg, custom_attributes="threshold=0.5")
    prepared.headers["X-Amzn-SageMaker-Custom-Attributes"] = "threshold=0"
    assert_refused(gateway, lambda: send(gateway, prepared), 403, "InvalidSignatureException")


def test_stale_signature(gateway, astronaut_jpeg, monkeypatch):
    ten_minutes_ago = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        minutes=10
    )
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: ten_minutes_ago)
    prepared = signed(gateway, astronaut_jpeg)
    monkeypatch.undo()
    assert_refused(gateway, lambda: send(gateway, prepared), 403, "InvalidSignatureException")


def test_missing_authentication(gateway, astronaut_jpeg):
    assert_refused(
        gateway,
        lambda: requests.post(
            f"{gateway.url}/endpoints/{ENDPOINT}/invocations",
            data=astronaut_jpeg,
            headers={"Content-Type": "image/jpeg"},
            verify=gateway.cert,
            timeout=30,
        ),
        403,
        "MissingAuthenticationTokenException",
    )


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 Credential=AKIDLOCALTESTKEY0001/2026/us-west-2/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=\xff garbage \xe9",
    ],
)
def test_malformed_authorization_is_403(gateway, authorization):
    response = requests.post(
        f"{gateway.url}/endpoints/{ENDPOINT}/invocations",
        data=b"x",
        headers={"Authorization": authorization.encode("latin-1"), "X-Amz-Date": "not-a-date"},
        verify=gateway.cert,
        timeout=30,
    )
    assert response.status_code == 403


def test_unknown_endpoint_is_404(gateway, astronaut_jpeg):
    assert_refused(
        gateway,
        lambda: send(gateway, signed(gateway, astronaut_jpeg, endpoint="other-endpoint")),
        404,
        "ValidationError",
    )


def test_body_over_six_megabytes_is_413(gateway):
    body = os.urandom(6 * 1024 * 1024 + 1)
    assert_refused(gateway, lambda: send(gateway, signed(gateway, body)), 413, "ValidationError")


def test_container_errors_come_back_as_model_error(gateway):
    with pytest.raises(ClientError) as error:
        runtime(gateway).invoke_endpoint(
            EndpointName=ENDPOINT, Body=b"not an image", ContentType="text/plain"
        )
    assert error.value.response["Error"]["Code"] == "ModelError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.value.response["OriginalStatusCode"] == 415
    assert "UnsupportedContentType" in error.value.response["OriginalMessage"]


def test_log_lines_carry_no_secrets(gateway, astronaut_jpeg):
    # a request forwarded and one rejected, made here: whatever ran before, both are logged
    answer = runtime(gateway).invoke_endpoint(
        EndpointName=ENDPOINT, Body=astronaut_jpeg, ContentType="image/jpeg"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (
        requests.post(
            f"{gateway.url}/endpoints/{ENDPOINT}/invocations",
            data=b"x",
            verify=gateway.cert,
            timeout=30,
        ).status_code
        == 403
    )
    assert wait_until(lambda: "rejected" in gateway.log, 10)
    log = gateway.log
    assert "forwarded" in log and "rejected" in log
    for secret in (SECRET, TEMP_SECRET, TOKEN, KEY):
        assert secret not in log


def invoke_through(gateway, image, *options, ca_bundle=True):
    """`sm-detect invoke` at the gateway, keys in the environment as a user would have them."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    env.pop("AWS_SESSION_TOKEN", None)
    command = [
        SM_DETECT,
        "invoke",
        "--endpoint",
        ENDPOINT,
        "--region",
        REGION,
        "--endpoint-url",
        gateway.url,
        *(["--ca-bundle", gateway.cert] if ca_bundle else []),
        "--threshold",
        "0",
        *options,
        str(image),
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300), env


def test_a_certificate_not_trusted_names_the_option_that_trusts_it(
    gateway, astronaut_jpeg, tmp_path
):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    result, _ = invoke_through(gateway, image, ca_bundle=False)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "CERTIFICATE_VERIFY_FAILED" in line and "pass its certificate with --ca-bundle" in line


def test_print_curl_runs_as_printed(gateway, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    printed, env = invoke_through(gateway, image, "--print-curl")
    assert printed.returncode == 0, printed.stderr
    assert SECRET not in printed.stdout and "$AWS_SECRET_ACCESS_KEY" in printed.stdout
    result = subprocess.run(
        ["bash", "-c", printed.stdout], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["detections"]


def test_invoke_command_through_the_gateway(gateway, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    result, _ = invoke_through(gateway, image, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["image"]["width"] == 512


def test_postman_collection_has_variables_only(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    result = subprocess.run(
        [SM_DETECT, "postman", "--endpoint", ENDPOINT, "--region", REGION, "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    collection = json.loads(
        (tmp_path / f"sm-detect-{ENDPOINT}.postman_collection.json").read_text()
    )
    environment = json.loads(
        (tmp_path / f"sm-detect-{ENDPOINT}.postman_environment.json").read_text()
    )
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    auth = {entry["key"]: entry["value"] for entry in collection["auth"]["awsv4"]}
    assert collection["auth"]["type"] == "awsv4"
    assert auth == {
        "accessKey": "{{accessKey}}",
        "secretKey": "{{secretKey}}",
        "sessionToken": "{{sessionToken}}",
        "region": "{{region}}",
        "service": "sagemaker",
    }
    request = collection["item"][0]["request"]
    assert request["body"]["mode"] == "file" and request["method"] == "POST"
    # a variant or a multi-model endpoint's model is picked by enabling its header
    optional = {h["key"]: h for h in request["header"] if h.get("disabled")}
    assert optional[TARGET_VARIANT]["value"] == "{{targetVariant}}"
    assert optional[TARGET_MODEL]["value"] == "{{targetModel}}"
    values = {entry["key"]: entry for entry in environment["values"]}
    assert values["baseUrl"]["value"] == f"https://runtime.sagemaker.{REGION}.amazonaws.com"
    for secret in ("secretKey", "apiKey", "token"):
        assert values[secret] == {"key": secret, "value": "", "type": "secret", "enabled": True}
    public = {item["name"]: item["request"] for item in collection["item"]}
    assert public["Public API with an API key"]["auth"]["apikey"][1]["value"] == "{{apiKey}}"
    assert public["Public API with a bearer token"]["auth"]["bearer"][0]["value"] == "{{token}}"
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text()


def test_sigv4_against_aws_published_example():
    # AWS's SigV4 test suite, "get-vanilla": its documented key, date and expected signature
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d"  # pragma: allowlist secret
        "763fbf31"
    )
    credentials = {
        "AKIDEXAMPLE": sigv4_verifier.Credentials(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",  # pragma: allowlist secret
        )
    }
    headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", authorization),
    ]
    at = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
    assert (
        sigv4_verifier.verify(
            "GET", "/", "", headers, b"", credentials, "us-east-1", "service", now=at
        )
        == "AKIDEXAMPLE"
    )


def guide_python(containing):
    guide = (pathlib.Path(REPO) / "docs" / "calling.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", guide, re.S) if containing in b]
    return block


def test_the_guides_boto3_snippet_runs_against_the_twin(server, tmp_path):
    # the guide's keys, endpoint, region and photo; its address and certificate are this twin's
    env = dict(os.environ, AWS_ACCESS_KEY_ID="local-key", AWS_SECRET_ACCESS_KEY="local-secret")
    env.pop("AWS_SESSION_TOKEN", None)
    twin = start_gateway(server.url, tmp_path, "yolo", "us-east-1", [], env)
    try:
        code = (
            guide_python('endpoint_url="https://127.0.0.1:8443"')
            .replace("https://127.0.0.1:8443", twin.url)
            .replace('os.path.expanduser("~/.config/sm-detect/gateway/cert.pem")', repr(twin.cert))
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=REPO,
        )
    finally:
        twin.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[{'class_id': ")


def test_the_start_line_names_the_upstreams_address(gateway, server):
    (line,) = [line for line in gateway.log.splitlines() if "listening on" in line]
    assert f"/invocations -> {server.url} (region " in line and "object at 0x" not in line
