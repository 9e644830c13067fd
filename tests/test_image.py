"""The image, really built (buildah here, docker where an engine answers) and really run.

The image's own ENTRYPOINT runs with the argument ``serve`` inside the built image (``buildah run
--isolation chroot``, host network), with a packaged model at /opt/ml/model, as SageMaker runs it.
Run alone with ``pytest -m image``.
"""

import os
import subprocess
import time

import psutil
import pytest
import requests
from PIL import Image

from tests.agreement import assert_agrees_with_this_process
from tests.conftest import IMAGE
from tests.servers import START_TIMEOUT_SECONDS, Server, pinged, wait_until

pytestmark = [pytest.mark.image, pytest.mark.server]


def buildah(*args, check=True):
    return subprocess.run(["buildah", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def container(built_image, model_dir):
    name = buildah("from", "--pull-never", IMAGE).stdout.strip()
    try:
        buildah("copy", "--chown", "1000:1000", name, str(model_dir), "/opt/ml/model")
        yield name
    finally:
        buildah("rm", name, check=False)


def entrypoint(built_image):
    config = built_image["OCIv1"]["config"]
    return config["Entrypoint"], config.get("Cmd")


@pytest.fixture(scope="module")
def served(container, built_image, tmp_path_factory):
    command, _ = entrypoint(built_image)
    server = Server(
        [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            "--env",
            "SAGEMAKER_BIND_TO_PORT=0",  # the server picks a free port and says which
            container,
            "--",
            *command,
            "serve",
        ],
        dict(os.environ),
        tmp_path_factory.mktemp("image") / "server.log",
    )
    try:
        server.wait_for_announcement(START_TIMEOUT_SECONDS)
        server.wait_ready(lambda: pinged(server.url), START_TIMEOUT_SECONDS)
        yield server
    finally:
        server.stop()


def test_image_configuration(built_image):
    config = built_image["OCIv1"]["config"]
    assert config["Entrypoint"][:2] == ["/usr/bin/tini", "--"]  # exec form, an init as PID 1
    assert config["Cmd"] == ["serve"]
    assert config["User"] not in ("", "root", "0", "0:0")
    assert "8080/tcp" in config["ExposedPorts"]
    labels = config["Labels"]
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert "com.amazonaws.sagemaker.capabilities.multi-models" not in labels


def test_other_commands_run_as_given(container, built_image):
    command, _ = entrypoint(built_image)
    result = buildah(
        "run", "--isolation", "chroot", container, "--", *command, "sm-detect", "--help"
    )
    assert "usage: sm-detect" in result.stdout


def test_serves_a_real_photograph(served, model_dir, astronaut_jpeg):
    assert requests.get(f"{served.url}/ping", timeout=10).json() == {"status": "healthy"}
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=20"}
    response = requests.post(
        f"{served.url}/invocations",
        data=astronaut_jpeg,
        timeout=120,
        headers={"Content-Type": "image/jpeg", **attributes},
    )
    assert response.status_code == 200
    # the image's MXNet gives what the host's gives for the same model and request, up to the
    # last float digits (another process, another thread count)
    chosen = attributes["X-Amzn-SageMaker-Custom-Attributes"]
    assert_agrees_with_this_process(response.json(), model_dir, astronaut_jpeg, chosen)
    assert response.json()["detections"]


def test_annotated_image_and_a_bad_request(served, astronaut_jpeg, tmp_path):
    drawn = requests.post(
        f"{served.url}/invocations",
        data=astronaut_jpeg,
        timeout=120,
        headers={"Content-Type": "image/jpeg", "Accept": "image/png"},
    )
    assert drawn.status_code == 200 and drawn.headers["Content-Type"] == "image/png"
    (tmp_path / "drawn.png").write_bytes(drawn.content)
    assert Image.open(tmp_path / "drawn.png").size == (512, 512)
    bad = requests.post(
        f"{served.url}/invocations",
        data=b"%PDF-1.4",
        timeout=30,
        headers={"Content-Type": "image/jpeg"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidInput"


def serve_processes():
    return [
        p
        for p in psutil.process_iter(["cmdline", "uids"])
        if (p.info["cmdline"] or [])[-1:] == ["/opt/venv/bin/serve"]
    ]


def test_runs_as_non_root_and_stops_on_sigterm(served):
    (serve_process,) = serve_processes()
    assert serve_process.info["uids"].real == 1000
    init = serve_process.parent()  # tini, the container's PID 1 under Docker
    assert init.cmdline()[0] == "/usr/bin/tini"
    started = time.monotonic()
    init.terminate()
    served.process.wait(timeout=30)
    assert time.monotonic() - started < 30
    assert "sm-detect.serve stopped" in served.log
    assert wait_until(lambda: not serve_processes(), 10)
