"""Shared fixtures: real photographs, a reference network, and the model packaged from it."""

import json
import os
import subprocess
import sys

import boto3
import numpy as np
import pytest
import requests
import skimage.data

from scripts.lib.archives import archive
from tests.helpers import (
    AWS_REGION,
    IMAGE,
    LONG_COMMAND_SECONDS,
    REPO,
    SAGEMAKER_TRUST,
    SM_DETECT,
    encode_image,
)
from tests.servers import Server, running_server, start_on_free_port


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """A failed shuffled run names its seed, so that the same order can be run again."""
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    if config.pluginmanager.hasplugin("random_order"):
        from random_order.config import Config

        order = Config(config)
        if order.is_enabled:
            terminalreporter.write_line(
                f"the tests ran shuffled: the same selection with --random-order-seed="
                f"{order.seed} runs them in the same order"
            )


@pytest.fixture(scope="session")
def photos():
    """Real photographs bundled with scikit-image, as HxWx3 uint8 RGB arrays."""
    return {
        "astronaut": skimage.data.astronaut(),
        "coffee": skimage.data.coffee(),
        "chelsea": skimage.data.chelsea(),
        "motorcycle": skimage.data.stereo_motorcycle()[0],
    }


@pytest.fixture(scope="session")
def astronaut_jpeg(photos):
    return encode_image(photos["astronaut"], "JPEG", quality=92)


@pytest.fixture(scope="session")
def reference_net():
    """The network the packaged model is exported from, as a plain GluonCV block."""
    from scripts.lib.archives.export import random_network

    return random_network()


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory, reference_net):
    path = tmp_path_factory.mktemp("weights") / "yolo3-random.params"
    reference_net.save_parameters(str(path))
    return path


@pytest.fixture(scope="session")
def model_archive(tmp_path_factory, weights_file):
    """model.tar.gz made by the real command line from a weights file."""
    output = tmp_path_factory.mktemp("package") / "model.tar.gz"
    subprocess.run(
        [SM_DETECT, "package", "--weights", str(weights_file), "--output", str(output)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return output


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, model_archive):
    directory = tmp_path_factory.mktemp("model")
    archive.safe_extract(str(model_archive), str(directory))
    return directory


@pytest.fixture(scope="session")
def int8_model_archive(tmp_path_factory, photos, weights_file):
    """The INT8 model of ``model_archive``'s weights, calibrated on the photographs."""
    folder = tmp_path_factory.mktemp("calibration")
    for name, photo in photos.items():
        (folder / f"{name}.jpg").write_bytes(encode_image(photo, "JPEG"))
    output = tmp_path_factory.mktemp("int8") / "model-int8.tar.gz"
    made = subprocess.run(
        [
            SM_DETECT,
            "package",
            "--weights",
            str(weights_file),
            "--precision",
            "int8",
            "--calibration",
            str(folder),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=LONG_COMMAND_SECONDS,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return output


@pytest.fixture(scope="session")
def bf16_model_archive(tmp_path_factory, photos, weights_file):
    """The BF16 model of ``model_archive``'s weights, its agreement measured on the photographs."""
    folder = tmp_path_factory.mktemp("validation")
    for name, photo in photos.items():
        (folder / f"{name}.jpg").write_bytes(encode_image(photo, "JPEG"))
    output = tmp_path_factory.mktemp("bf16") / "model-bf16.tar.gz"
    made = subprocess.run(
        [
            *(SM_DETECT, "package", "--weights", str(weights_file), "--precision", "bf16"),
            *("--validate", str(folder), "--output", str(output)),
        ],
        capture_output=True,
        text=True,
        timeout=LONG_COMMAND_SECONDS,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return output


@pytest.fixture(scope="session")
def server(tmp_path_factory, model_archive):
    """One real server (front door + multi-model-server) for every test that only calls it;
    a test that stops, kills or reconfigures a server starts its own."""
    with running_server(model_archive, tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture
def random_array():
    return np.random.default_rng(1).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def built_image():
    """The image, built once per test run with the same script as `make image`."""
    result = subprocess.run(
        ["bash", os.path.join(REPO, "container", "build-image.sh"), IMAGE],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=LONG_COMMAND_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"image: {IMAGE}" in result.stdout
    inspected = subprocess.run(
        ["buildah", "inspect", "--type", "image", IMAGE],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(inspected.stdout)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's server on loopback: an AWS API stand-in, one per test module."""
    moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = start_on_free_port(
        lambda port: Server(
            [moto_server, "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), log, port=port
        ),
        lambda server: requests.get(f"{server.url}/moto-api/", timeout=5).ok,
        60,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_settings(moto):
    """The AWS settings that point boto3 and the command line at moto, with throwaway keys."""
    return {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@pytest.fixture
def aws_env(moto_settings, monkeypatch):
    """This process's and the command line's AWS settings: moto's, for one test."""
    for key, value in moto_settings.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


@pytest.fixture
def execution_role(aws_env):
    """A role SageMaker may assume, where `deploy` looks for one when given none (in moto)."""
    iam = boto3.client("iam", region_name=AWS_REGION)
    name = "AmazonSageMaker-ExecutionRole-tests"
    if not any(role["RoleName"] == name for role in iam.list_roles()["Roles"]):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=SAGEMAKER_TRUST)
