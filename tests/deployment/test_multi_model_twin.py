"""A multi-model endpoint on this machine: the signed twin in front of `sm-detect serve
--multi-model`, reached by boto3 and `sm-detect invoke` with a TargetModel, as on SageMaker."""

import json
import os
import re
import shutil
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from scripts.lib.archives import archive
from tests.helpers import CUSTOM_CLASSES, SM_DETECT, package_custom_detector
from tests.servers import BIN_DIR, QUICK_START, Server, server_env, start_gateway

pytestmark = pytest.mark.server
REGION = "us-east-1"
ENDPOINT = "many-detectors"
KEY, SECRET = "AKIDMULTIMODELTEST01", "multi-model-test-secret-not-real"  # pragma: allowlist secret


MARKER = "/tmp/sm-detect-twin-test-the-archive's-code-ran"
EVIL_HANDLER = (
    f'open({MARKER!r}, "w").write("ran")\n\ndef handle(data, context):\n    return [b"pwned"]\n'
)
EVIL_MANIFEST = {
    "runtime": "python",
    "model": {"modelName": "pwn", "handler": "evilhandler:handle"},
    "specificationVersion": "1.0",
}


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    """Where the evil archive's code would write, if it ever ran."""
    return tmp_path_factory.mktemp("marker") / "the-archive's-code-ran"


@pytest.fixture(scope="module")
def archives(tmp_path_factory, model_archive, marker):
    """The endpoint's model data: archives of different class lists under one prefix, and one
    that holds a handler of its own beside a good model."""
    prefix = tmp_path_factory.mktemp("prefix")
    shutil.copy(model_archive, prefix / "coco.tar.gz")
    package_custom_detector(prefix, "site-a.tar.gz")
    evil = tmp_path_factory.mktemp("evil")
    archive.safe_extract(str(model_archive), str(evil))
    (evil / "MAR-INF").mkdir()
    (evil / "MAR-INF" / "MANIFEST.json").write_text(json.dumps(EVIL_MANIFEST))
    (evil / "evilhandler.py").write_text(EVIL_HANDLER.format(marker=str(marker)))
    archive.write_archive(str(evil), str(prefix / "evil.tar.gz"))
    return prefix


@pytest.fixture(scope="module")
def twin(archives, tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    models = root / "models"
    models.mkdir()
    command = [os.path.join(BIN_DIR, "sm-detect"), "serve", "--multi-model", "--models-dir"]
    command += [str(models), "--port", "0", "--base-dir", str(root / "base")]
    server = Server(command, server_env(root, **QUICK_START), root / "server.log")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    env.pop("AWS_SESSION_TOKEN", None)
    try:
        server.wait_for_announcement(180)
        (root / "gateway").mkdir()
        options = ["--model-data", str(archives), "--models-dir", str(models)]
        gateway = start_gateway(server.url, root / "gateway", ENDPOINT, REGION, options, env)
        gateway.env = env
        gateway.server = server
        yield gateway
        gateway.stop()
    finally:
        server.stop()


def runtime(twin, **config):
    session = boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION)
    return session.client(
        "sagemaker-runtime", endpoint_url=twin.url, verify=twin.cert, config=Config(**config)
    )


def detect(twin, body, **options):
    answer = runtime(twin).invoke_endpoint(
        EndpointName=ENDPOINT,
        Body=body,
        ContentType="image/jpeg",
        CustomAttributes="threshold=0",
        **options,
    )
    return {d["label"] for d in json.loads(answer["Body"].read())["detections"]}


def test_boto3_target_model_reaches_the_right_detector(twin, astronaut_jpeg):
    custom = detect(twin, astronaut_jpeg, TargetModel="site-a.tar.gz")
    coco = detect(twin, astronaut_jpeg, TargetModel="coco.tar.gz")
    assert custom and custom <= set(CUSTOM_CLASSES)
    assert coco and not coco & set(CUSTOM_CLASSES)
    # loaded once, kept: later requests of the model, under any spelling of its path, do not
    # load it again
    for spelling in ("site-a.tar.gz", "./site-a.tar.gz", "a/../site-a.tar.gz"):
        again = detect(twin, astronaut_jpeg, TargetModel=spelling)
        assert again and again <= set(CUSTOM_CLASSES)
    loads = re.findall(r"loaded model (site-a\S*)", twin.server.log)
    assert len(loads) == 1, loads


def test_an_archive_with_code_of_its_own_is_refused_and_none_of_it_runs(
    twin, astronaut_jpeg, marker
):
    with pytest.raises(ClientError) as refused:
        detect(twin, astronaut_jpeg, TargetModel="evil.tar.gz")
    assert refused.value.response["Error"]["Code"] == "ModelError"
    assert "UnexpectedFile" in refused.value.response["Error"]["Message"]
    assert not marker.exists()


def test_an_inference_id_over_64_characters_is_the_runtimes_400(twin, astronaut_jpeg):
    # boto3 checks the length itself: unchecked, the request reaches the twin as any client's
    unchecked = runtime(twin, parameter_validation=False)
    with pytest.raises(ClientError) as refused:
        unchecked.invoke_endpoint(
            EndpointName=ENDPOINT,
            Body=astronaut_jpeg,
            ContentType="image/jpeg",
            TargetModel="coco.tar.gz",
            InferenceId="i" * 65,
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Code"] == "ValidationError"


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "missing a target model header"),
        ({"TargetModel": "no-such.tar.gz"}, "Failed to find model data"),
        ({"TargetModel": "../coco.tar.gz"}, "is not a model's path"),
    ],
)
def test_no_or_a_missing_target_model_is_the_runtimes_error(twin, astronaut_jpeg, options, message):
    with pytest.raises(ClientError) as refused:
        runtime(twin).invoke_endpoint(
            EndpointName=ENDPOINT, Body=astronaut_jpeg, ContentType="image/jpeg", **options
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert message in refused.value.response["Error"]["Message"]


def test_invoke_command_with_a_target_model(twin, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    target = ["--target-model", "site-a.tar.gz", "--endpoint", ENDPOINT, "--region", REGION]
    result = subprocess.run(
        [
            SM_DETECT,
            "invoke",
            *target,
            "--endpoint-url",
            twin.url,
            "--ca-bundle",
            twin.cert,
            "--threshold",
            "0",
            "--json",
            str(image),
        ],
        capture_output=True,
        text=True,
        env=twin.env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    labels = {d["label"] for d in json.loads(result.stdout)["detections"]}
    assert labels and labels <= set(CUSTOM_CLASSES)
