"""The archive's code/ works as an entry point in AWS's own MXNet serving toolkit.

``sagemaker-mxnet-inference`` 1.5.5 is what AWS's MXNet 1.9 inference containers run: its handler
service imports the entry point from ``/opt/ml/model/code`` (``SAGEMAKER_PROGRAM`` defaults to
``inference.py``, i.e. our ``inference`` package), checks that ``model_fn`` returns a
``gluon.Block``, and calls ``input_fn`` / ``predict_fn`` / ``output_fn``.
"""

import os
import shutil
import sys

import pytest
import requests

from scripts.lib.bench.servers import START_AWS_TOOLKIT
from tests.agreement import assert_agrees_with_this_process
from tests.servers import START_TIMEOUT_SECONDS, Server, server_env, start_on_free_port, wait_until

pytestmark = [pytest.mark.server, pytest.mark.compat]

ANNOUNCE = '\nprint("entry point imported from", __file__, flush=True)\n'


@pytest.fixture(scope="module")
def aws_server(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("aws")
    shutil.copytree(model_dir, root / "base" / "model")
    # the copy under code/ announces itself, so the test can tell which copy the toolkit imported
    entry_point = root / "base" / "model" / "code" / "inference" / "__init__.py"
    entry_point.write_text(entry_point.read_text() + ANNOUNCE)
    command = [sys.executable, "-c", START_AWS_TOOLKIT, str(root / "mms.properties")]

    def start(port):
        env = server_env(
            root, SAGEMAKER_BASE_DIR=root / "base", TEMP=root, SAGEMAKER_BIND_TO_PORT=port
        )
        return Server(command, env, root / "server.log", port=port)

    server = start_on_free_port(
        start,
        lambda server: requests.get(f"{server.url}/ping", timeout=5).ok,
        START_TIMEOUT_SECONDS,
    )
    try:
        yield server
    finally:
        server.stop()


def post(server, body, content_type, **headers):
    return requests.post(
        f"{server.url}/invocations",
        data=body,
        timeout=120,
        headers={"Content-Type": content_type, **headers},
    )


def test_aws_toolkit_serves_the_archive_code(aws_server, model_dir, astronaut_jpeg):
    # the toolkit's /ping says nothing about the model: wait for a real answer instead
    assert wait_until(
        lambda: post(aws_server, astronaut_jpeg, "image/jpeg").status_code == 200,
        180,
        interval=2,
        process=aws_server.process,
    ), aws_server.log[-5000:]
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=50"}
    response = post(aws_server, astronaut_jpeg, "image/jpeg", **attributes)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")

    # the same request through our handler functions in this process (AWS's toolkit runs
    # one OpenMP thread, this process two: the same answer up to the last float digits)
    chosen = attributes["X-Amzn-SageMaker-Custom-Attributes"]
    assert_agrees_with_this_process(response.json(), model_dir, astronaut_jpeg, chosen)
    assert response.json()["detections"]

    # the code that ran is the archive's copy, imported from <base>/model/code
    assert (
        "entry point imported from "
        + os.path.join(
            str(aws_server.log_path.parent), "base", "model", "code", "inference", "__init__.py"
        )
        in aws_server.log
    )


def test_aws_toolkit_keeps_our_status_codes(aws_server, astronaut_jpeg):
    assert post(aws_server, b"plain text", "text/plain").status_code == 415
    assert post(aws_server, b"not an image", "image/jpeg").status_code == 400
    assert post(aws_server, astronaut_jpeg, "image/jpeg", Accept="text/html").status_code == 406
    assert post(aws_server, astronaut_jpeg, "image/jpeg").status_code == 200
