"""The Postman collection, run by Postman's own runner (newman) against the local twins.

newman signs the runtime's requests with Postman's AWS Signature code and sends the public API's
with an API key and a bearer token: clients that are not this project's.
"""

import json
import os
import subprocess

import pytest

from tests.helpers import REPO, SM_DETECT
from tests.servers import start_gateway

pytestmark = pytest.mark.server
NEWMAN = os.path.join(REPO, "tests", "newman", "node_modules", ".bin", "newman")
REGION, ENDPOINT = "us-west-2", "yolo-postman"
KEY, SECRET = "AKIDPOSTMANTEST00001", "postman-test-secret-not-real"  # pragma: allowlist secret
API_KEY = "postman-public-api-key-0001"  # pragma: allowlist secret
TOKEN_SECRET = "postman-token-secret-32-bytes-xxxx"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def collection(tmp_path_factory, astronaut_jpeg):
    root = tmp_path_factory.mktemp("postman")
    image = root / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    command = [SM_DETECT, "postman", "--endpoint", ENDPOINT, "--region", REGION]
    result = subprocess.run(
        [*command, "--image", str(image), "-o", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def twins(server, tmp_path_factory):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    env.pop("AWS_SESSION_TOKEN", None)
    env["POSTMAN_TOKEN_SECRET"] = TOKEN_SECRET
    signed = start_gateway(server.url, tmp_path_factory.mktemp("signed"), ENDPOINT, REGION, [], env)
    keyed = start_gateway(
        server.url, tmp_path_factory.mktemp("keyed"), "", "", ["--public", "--api-key", API_KEY]
    )
    tokened = start_gateway(
        server.url,
        tmp_path_factory.mktemp("tokened"),
        "",
        "",
        ["--public", "--token-secret-env", "POSTMAN_TOKEN_SECRET"],
        env,
    )
    yield {"signed": signed, "keyed": keyed, "tokened": tokened}
    for running in (signed, keyed, tokened):
        running.stop()


def newman(collection, request, cert, **variables):
    """Run one request of the collection with newman; its execution record."""
    report = collection / f"{request}.json"
    command = [
        NEWMAN,
        "run",
        str(collection / f"sm-detect-{ENDPOINT}.postman_collection.json"),
        "--environment",
        str(collection / f"sm-detect-{ENDPOINT}.postman_environment.json"),
        "--folder",
        request,
        "--ssl-extra-ca-certs",
        cert,
        "--reporters",
        "json",
        "--reporter-json-export",
        str(report),
    ]
    for name, value in variables.items():
        command += ["--env-var", f"{name}={value}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert report.exists(), result.stdout + result.stderr
    (execution,) = json.loads(report.read_text())["run"]["executions"]
    return execution["response"]


def body_of(response):
    return json.loads(bytes(response["stream"]["data"]))


@pytest.mark.parametrize("secret, status", [(SECRET, 200), ("wrong", 403)])
def test_newman_signs_for_the_runtime(collection, twins, secret, status):
    response = newman(
        collection,
        "Detect objects (JSON)",
        twins["signed"].cert,
        baseUrl=twins["signed"].url,
        accessKey=KEY,
        secretKey=secret,
        customAttributes="threshold=0,max_detections=3",
    )
    assert response["code"] == status
    if status == 200:
        assert len(body_of(response)["detections"]) == 3


def test_newman_calls_the_public_api_with_a_key(collection, twins):
    keyed = twins["keyed"]

    def call(api_key):
        return newman(
            collection,
            "Public API with an API key",
            keyed.cert,
            publicUrl=f"{keyed.url}/prod/detect",
            apiKey=api_key,
            customAttributes="threshold=0,max_detections=2",
        )

    response = call(API_KEY)
    assert response["code"] == 200 and len(body_of(response)["detections"]) == 2
    assert call("not-the-key")["code"] == 403


def test_newman_calls_the_public_api_with_a_token(collection, twins):
    from scripts.lib.authorizer import token_authorizer

    token = token_authorizer.mint("postman", 300, TOKEN_SECRET)
    response = newman(
        collection,
        "Public API with a bearer token",
        twins["tokened"].cert,
        publicUrl=f"{twins['tokened'].url}/prod/detect",
        token=token,
    )
    assert response["code"] == 200 and body_of(response)["image"]["width"] == 512
