"""Dry runs: they say what they would do, touch nothing, and need no network and no credentials.

Every AWS address points at a closed loopback port, so any call that slipped through would fail
the command; there is no region, no profile and no key.
"""

import os
import re
import socket
import subprocess

import pytest

from scripts.lib.archives import archive as archive_module
from tests.helpers import SM_DETECT


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # closed once the probe is gone
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("http_proxy", "https_proxy")
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            # no cached GluonCV weights: a download attempt would show
            "MXNET_HOME": str(tmp_path_factory.mktemp("empty-mxnet-home")),
        }
    )
    return env


def dry_run(env, *args):
    result = subprocess.run(
        [SM_DETECT, *args, "--dry-run"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_upload_says_it_would_upload(offline_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"archive bytes")
    said = dry_run(offline_env, "upload", str(archive), "s3://bucket/models/", "--create-bucket")
    assert "would create bucket bucket if it does not exist" in said
    assert f"would upload {archive} (0.0 MB, sha256 " in said
    assert "s3://bucket/models/model.tar.gz" in said
    assert "uploaded" not in said


def test_push_names_placeholders_for_the_region_and_account(offline_env):
    said = dry_run(offline_env, "push", "--repository", "sm-detect", "--tag", "v1")
    assert "no AWS region is configured: REGION stands for it" in said
    assert "ACCOUNT stands for it" in said
    assert (
        "would push sm-detect:latest to ACCOUNT.dkr.ecr.REGION.amazonaws.com/sm-detect:v1" in said
    )


def test_deploy_prints_its_calls_without_a_region(offline_env):
    said = dry_run(
        offline_env,
        "deploy",
        "--endpoint",
        "yolo",
        "--model-data",
        "s3://bucket/model.tar.gz",
        "--image",
        "ACCOUNT.dkr.ecr.REGION.amazonaws.com/sm-detect:v1",
    )
    assert "[dry run] sagemaker.create_model(" in said
    assert "[dry run] sagemaker.create_endpoint_config(" in said
    assert "would update endpoint yolo in place if it exists, else create it" in said
    assert "runtime.sagemaker.REGION.amazonaws.com/endpoints/yolo/invocations" in said


def test_teardown_lists_everything_it_would_delete(offline_env):
    said = dry_run(offline_env, "teardown", "--endpoint", "yolo", "--all")
    assert "deleted" not in said
    for target in (
        "endpoint yolo, if it exists",
        "every endpoint configuration tagged sm-detect:endpoint=yolo",
        "every model tagged sm-detect:endpoint=yolo",
        "the model archives in S3",
        "the ECR repositories of their images",
    ):
        assert target in said
    assert "the model archives in S3" not in dry_run(offline_env, "teardown", "--endpoint", "yolo")


def test_up_offline_neither_downloads_nor_builds(offline_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    up = ["up", "--endpoint", "yolo", "--s3", "s3://bucket/models/", "--archive", str(archive)]
    up += ["--image", "sm-detect:never-built"]
    said = dry_run(offline_env, *up)
    assert f"would package pretrained weights (fp32) into {archive}" in said
    int8 = dry_run(offline_env, *up, "--precision", "int8")
    assert f"would package pretrained weights (int8) into {archive}" in int8
    assert "would build sm-detect:never-built" in said
    assert "[dry run] sagemaker.create_endpoint(" in said
    assert not archive.exists()
    assert not os.listdir(offline_env["MXNET_HOME"])


def test_scale_and_transform_say_would(offline_env):
    assert "would scale yolo: 1 to 4 instances" in dry_run(
        offline_env, "scale", "--endpoint", "yolo"
    )
    said = dry_run(
        offline_env, "transform", "--model", "m", "--input", "s3://a/", "--output", "s3://b/"
    )
    assert "would start transform job m-batch-" in said and "started" not in said


def test_expose_says_what_it_would_make(offline_env):
    said = dry_run(offline_env, "expose", "--endpoint", "yolo", "--auth", "token")
    for call in (
        "iam.create_role(",
        "apigateway.create_rest_api(",
        "lambda.create_function(",
        "apigateway.create_authorizer(",
        "apigateway.put_integration(",
        "apigateway.create_deployment(",
    ):
        assert f"[dry run] {call}" in said, call
    assert "would make the SecureString /sm-detect/yolo/token-secret" in said
    assert "invoke URL: https://API_ID.execute-api.REGION.amazonaws.com/prod/detect" in said


DEPLOY = ["deploy", "--endpoint", "yolo", "--model-data", "s3://bucket/model.tar.gz"]
DEPLOY += ["--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:v1"]
DEPLOY += ["--role", "arn:aws:iam::123456789012:role/sm"]


@pytest.mark.parametrize(
    "change, message",
    [
        (["--env", "SM_DETECT_THRESHOLD=4"], "SM_DETECT_THRESHOLD='4' is not valid"),
        (["--env", "SM_DETECT_MODE=fast"], "SM_DETECT_MODE='fast' is not valid"),
        (["--env", "SAGEMAKER_MODEL_SERVER_WORKERS=0"], "SAGEMAKER_MODEL_SERVER_WORKERS='0'"),
        ({"--model-data": "notanS3uri"}, "takes an s3://BUCKET/PREFIX address"),
        ({"--model-data": "s3://Bad_Bucket/m.tar.gz"}, "takes an s3://BUCKET/PREFIX address"),
        ({"--endpoint": "bad name!"}, "takes a SageMaker name"),
        ({"--endpoint": "trailing-"}, "takes a SageMaker name"),
        ({"--endpoint": "x" * 64}, "takes a SageMaker name"),
    ],
)
def test_deploy_checks_what_sagemaker_would_refuse_before_any_call(offline_env, change, message):
    args = list(DEPLOY)
    if isinstance(change, dict):
        for option, value in change.items():
            args[args.index(option) + 1] = value
    else:
        args += change
    result = subprocess.run(
        [SM_DETECT, *args, "--dry-run"], capture_output=True, text=True, env=offline_env, timeout=60
    )
    assert result.returncode in (1, 2), result.stderr  # 1: checked by us, 2: by the parser
    assert message in result.stderr
    assert "[dry run]" not in result.stderr  # refused before anything was said to be done


def test_deploy_accepts_what_the_server_accepts(offline_env):
    said = dry_run(offline_env, *DEPLOY, "--env", "SM_DETECT_THRESHOLD=0.4")
    assert "[dry run] sagemaker.create_model(" in said and '"SM_DETECT_THRESHOLD": "0.4"' in said


@pytest.mark.parametrize(
    "models",
    [
        ["--shadow", "int8=s3://bucket/int8.tar.gz", "--data-capture", "s3://bucket/captured/"],
        ["--variant", "fp32:90=s3://bucket/a.tar.gz", "--variant", "int8:10=s3://bucket/b.tar.gz"],
    ],
)
def test_every_model_of_one_deploy_has_its_own_name(offline_env, models):
    # SageMaker refuses a second CreateModel of a name; moto overwrites it, so the names are
    # read from the calls themselves
    args = list(DEPLOY)
    if models[0] == "--variant":
        index = args.index("--model-data")
        del args[index : index + 2]
    said = dry_run(offline_env, *args, *models)
    created = re.findall(r'sagemaker\.create_model\(ModelName="([^"]+)"', said)
    named = re.findall(r'"ModelName": "([^"]+)"', said)
    assert len(created) == 2 and len(set(created)) == 2, created
    assert sorted(named) == sorted(created)  # each variant names its own model


def test_up_never_deploys_an_archive_other_than_the_one_asked_for(offline_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    folder = tmp_path / "fp32"
    folder.mkdir()
    (folder / "model.json").write_text('{"precision": "fp32", "weights": "random"}')
    archive_module.write_archive(str(folder), str(archive))
    up = ["up", "--endpoint", "yolo", "--s3", "s3://bucket/models/", "--archive", str(archive)]
    up += ["--image", "sm-detect:never-built", "--weights", "random"]
    asked = subprocess.run(
        [SM_DETECT, *up, "--precision", "int8", "--dry-run"],
        capture_output=True,
        text=True,
        env=offline_env,
        timeout=120,
    )
    assert asked.returncode == 1
    assert "holds fp32 random weights, not the int8 random weights asked for" in asked.stderr
    assert "upload" not in asked.stderr
    assert f"{archive} exists and holds random weights (fp32), skipped" in dry_run(offline_env, *up)
