"""Production variants, a shadow and data capture at the local twin, before real servers: the
FP32 model and its INT8 copy. boto3 signs every request, as an app's would.

Shares are counted at the servers, from each one's own request log (every request carries an
inference id of its own), and checked against the invoked-variant header of every answer; the
shadow's copies are counted the same way; the verdict is ``sm-detect compare`` on what the twin
captured.
"""

import collections
import concurrent.futures
import json
import os
import re
import stat
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from inference.headers import INVOKED_VARIANT
from scripts.lib.cloud import captures
from tests.helpers import cli, encode_image
from tests.servers import QUICK_START, running_server, start_gateway, wait_until

pytestmark = pytest.mark.server
REGION = "us-west-2"
KEY, SECRET = "AKIDVARIANTSTESTKEY1", "variants-test-secret-not-real"  # pragma: allowlist secret
ALL_DETECTIONS = "threshold=0,max_detections=100"


@pytest.fixture(scope="module")
def int8_server(int8_model_archive, tmp_path_factory):
    # one canvas to warm: the variants' routing and agreement are what these tests read
    with running_server(
        int8_model_archive, tmp_path_factory.mktemp("int8-server"), **QUICK_START
    ) as running:
        yield running


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    path = tmp_path_factory.mktemp("credentials") / "credentials"
    path.write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    return path


@pytest.fixture
def twin(credentials, tmp_path):
    """Starts gateways with the options given; stops them after the test."""
    started = []

    def start(endpoint, *options):
        root = tmp_path / f"gateway-{len(started)}"
        root.mkdir()
        gateway = start_gateway(
            None, root, endpoint, REGION, ["--credentials", str(credentials), *options]
        )
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def runtime(gateway):
    return boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=gateway.url,
        verify=gateway.cert,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )


def invoke(client, endpoint, body, **options):
    return client.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType="image/jpeg", **options
    )


@pytest.fixture(scope="module")
def small_jpeg(photos):
    return encode_image(photos["coffee"][::4, ::4], "JPEG")


def requests_logged(server, inference_id):
    return len(re.findall(rf"POST /invocations 200 .*inference_id={inference_id}\b", server.log))


def test_two_variants_share_the_traffic_by_weight_and_say_who_answered(
    server, int8_server, twin, small_jpeg, tmp_path
):
    gateway = twin(
        "weighted",
        "--variant",
        f"fp32:80={server.url}",
        "--variant",
        f"int8:20={int8_server.url}",
    )
    client = runtime(gateway)
    run = uuid.uuid4().hex[:8]

    def answered_by(number):
        answer = invoke(client, "weighted", small_jpeg, InferenceId=f"split-{run}-{number}")
        assert json.loads(answer["Body"].read())["detections"] is not None
        return answer["ResponseMetadata"]["HTTPHeaders"].get(INVOKED_VARIANT.lower())

    # smooth weighted round robin: exactly 8 in 10 to fp32, over any run of 10 requests
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        shares = collections.Counter(pool.map(answered_by, range(50)))
    assert shares == {"fp32": 40, "int8": 10}, shares
    # ... and each server answered exactly those, by its own log
    assert requests_logged(server, rf"split-{run}-\d+") == 40
    assert requests_logged(int8_server, rf"split-{run}-\d+") == 10
    # boto3 reads the header for the caller as InvokedProductionVariant
    assert invoke(client, "weighted", small_jpeg)["InvokedProductionVariant"] in shares

    for number in range(6):
        chosen = invoke(
            client,
            "weighted",
            small_jpeg,
            TargetVariant="int8",
            InferenceId=f"to-int8-{run}-{number}",
        )
        assert chosen["InvokedProductionVariant"] == "int8"
    assert requests_logged(int8_server, rf"to-int8-{run}-\d+") == 6
    assert requests_logged(server, rf"to-int8-{run}-\d+") == 0
    with pytest.raises(ClientError) as refused:
        invoke(client, "weighted", small_jpeg, TargetVariant="int4")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "int4" in refused.value.response["Error"]["Message"]

    image = tmp_path / "coffee.jpg"
    image.write_bytes(small_jpeg)
    command = ["invoke", "--endpoint", "weighted", "--region", REGION]
    command += ["--endpoint-url", gateway.url, "--ca-bundle", gateway.cert, str(image)]
    keys = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    keys.pop("AWS_SESSION_TOKEN", None)
    chosen = cli(*command[:-1], "--target-variant", "int8", command[-1], env=keys)
    assert chosen.returncode == 0, chosen.stderr
    assert "answered by variant int8" in chosen.stderr


def captured(folder, variant):
    """The events the twin captured for ``variant``."""
    return [
        event for event in captures.events(None, str(folder), variant) if isinstance(event, dict)
    ]


def capture_count(folder, variant):
    return len(captured(folder, variant))


def test_a_shadow_gets_a_copy_of_every_request_and_compare_reads_the_captures(
    server, int8_server, twin, photos, tmp_path
):
    capture_dir = tmp_path / "captured"
    gateway = twin(
        "shadowed",
        "--variant",
        f"fp32={server.url}",
        "--shadow",
        f"int8={int8_server.url}",
        "--capture",
        str(capture_dir),
    )
    client = runtime(gateway)
    bodies = {name: encode_image(photo, "JPEG") for name, photo in photos.items()}
    answers = {}
    for name, body in bodies.items():
        answer = invoke(
            client, "shadowed", body, InferenceId=f"shadow-{name}", CustomAttributes=ALL_DETECTIONS
        )
        assert answer["InvokedProductionVariant"] == "fp32"
        answers[name] = json.loads(answer["Body"].read())

    # each request reached the INT8 server once, as a copy, with the caller's id
    assert wait_until(
        lambda: all(requests_logged(int8_server, f"shadow-{name}") == 1 for name in bodies), 60
    ), int8_server.log[-3000:]
    assert wait_until(lambda: capture_count(capture_dir, "int8") == len(bodies), 30)
    assert capture_count(capture_dir, "fp32") == len(bodies)

    # the caller's answers are production's, as captured, never the shadow's
    production = {
        variant: {
            event["eventMetadata"]["inferenceId"].removeprefix("shadow-"): json.loads(
                event["captureData"]["endpointOutput"]["data"]
            )
            for event in captured(capture_dir, variant)
        }
        for variant in ("fp32", "int8")
    }
    assert production["fp32"] == answers
    assert production["int8"] != answers  # INT8 scores differ from FP32's in the last digits
    # the callers' photos are in the captures: for the owner's eyes only, whatever the umask
    for folder, _, names in os.walk(capture_dir):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
        for name in names:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600

    report = tmp_path / "compare.json"
    verdict = compare(capture_dir, "fp32", "int8", "--json", str(report))
    assert f"int8 against fp32 on {len(bodies)} request(s)" in verdict
    figures = json.loads(report.read_text())
    assert len(figures["requests"]) == len(bodies)
    totals = figures["totals"]
    # each count is the answers' own (compare's scoring is checked on a known pair in the
    # unit tests); the agreement of random weights' INT8 is no figure to hold
    reference = sum(len(answer["detections"]) for answer in answers.values())
    shadow_answers = sum(len(answer["detections"]) for answer in production["int8"].values())
    assert totals["reference_detections"] == reference > 0
    assert totals["candidate_detections"] == shadow_answers > 0
    assert figures["latency"]["fp32"]["count"] == figures["latency"]["int8"]["count"] == len(bodies)


def test_a_shadow_of_the_same_model_agrees_fully(server, twin, photos, tmp_path):
    capture_dir = tmp_path / "captured"
    gateway = twin(
        "same",
        "--variant",
        f"blue={server.url}",
        "--shadow",
        f"green={server.url}",
        "--capture",
        str(capture_dir),
    )
    client = runtime(gateway)
    for name in ("astronaut", "motorcycle", "chelsea"):
        invoke(client, "same", encode_image(photos[name], "JPEG"), CustomAttributes=ALL_DETECTIONS)
    assert wait_until(lambda: capture_count(capture_dir, "green") == 3, 60)

    report = tmp_path / "compare.json"
    verdict = compare(capture_dir, "blue", "green", "--json", str(report))
    totals = json.loads(report.read_text())["totals"]
    assert totals["images"] == 3 and totals["reference_detections"] > 0
    assert totals["matched"] == totals["reference_detections"] == totals["candidate_detections"]
    assert totals["map50"] == pytest.approx(1.0)
    assert totals["max_score_difference"] <= 1e-4
    assert "mAP@0.5 1.000" in verdict


def test_compare_says_what_is_missing(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = cli("compare", "--capture", str(empty), "--production", "a", "--shadow", "b", env=None)
    assert result.returncode == 1
    assert "no answers of variant a" in result.stderr and "Traceback" not in result.stderr


def compare(captured, production, shadow, *options):
    result = cli(
        "compare",
        "--capture",
        str(captured),
        "--production",
        production,
        "--shadow",
        shadow,
        *options,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr
