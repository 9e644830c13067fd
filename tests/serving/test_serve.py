"""The `serve` entrypoint: configuration, honest /ping, start-up hazards, SIGTERM."""

import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest
import requests

from tests.helpers import SM_DETECT
from tests.servers import (
    QUICK_START,
    START_TIMEOUT_SECONDS,
    Server,
    pinged,
    post_image,
    running_server,
    serve_command,
    server_env,
    wait_until,
)


def model_server_processes(run_marker):
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(run_marker in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.server
def test_starts_despite_stale_pid_file_honours_settings_and_stops_on_sigterm(
    model_archive, astronaut_jpeg, tmp_path
):
    # a pid file naming a live process makes a plain `multi-model-server --start` refuse to run
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / ".model_server.pid").write_text(str(os.getpid()))
    with running_server(
        model_archive,
        tmp_path / "server",
        SAGEMAKER_MODEL_SERVER_WORKERS=2,
        SAGEMAKER_MODEL_SERVER_TIMEOUT=90,
        SM_DETECT_LOAD_TIMEOUT=150,
        **QUICK_START,
    ) as server:
        # the first healthy /ping means a request is answered, not queued or refused
        response = post_image(server, astronaut_jpeg)
        assert response.status_code == 200
        assert "loading the model into 2 worker(s)" in server.log
        # multi-model-server's start-up banner is for DEBUG; the door's lines say what starts
        assert "Default workers per model" not in server.log
        config = next(tmp_path.joinpath("server").glob("sm-detect-*/mms.properties")).read_text()
        # MMS's one limit is the load's (a request's is the front door's), in both its units
        assert "default_response_timeout_seconds=150" in config
        assert "default_response_timeout=3" in config
        assert len(model_server_processes(str(tmp_path / "server"))) >= 3  # java + 2 workers

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0  # raises if it outlives SageMaker's 30 s
        assert wait_until(lambda: not model_server_processes(str(tmp_path / "server")), 10)


@pytest.mark.server
def test_ping_is_never_healthy_when_the_workers_cannot_load(model_dir, tmp_path):
    import mxnet as mx

    # every parameter is there, so serve starts; one has the wrong shape, so every worker fails
    broken = tmp_path / "misshapen-model"
    shutil.copytree(model_dir, broken)
    params = mx.nd.load(str(broken / "model-0000.params"))
    first_convolution = next(name for name in sorted(params) if name.endswith("conv0_weight"))
    params[first_convolution] = mx.nd.zeros((7, 3, 3, 3))
    mx.nd.save(str(broken / "model-0000.params"), params)
    with running_server(broken, tmp_path / "server", wait=False) as server:
        answers = set()
        # pinged until the load has failed, and failed again when the model server retried it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.log.count("Load model failed") < 2:
            try:
                answers.add(requests.get(f"{server.url}/ping", timeout=5).status_code)
            except requests.ConnectionError:
                answers.add("refused")
            time.sleep(0.5)
        assert server.log.count("Load model failed") >= 2, server.log[-3000:]
        assert 503 in answers, f"the front door never answered: {answers}\n{server.log[-3000:]}"
        assert 200 not in answers
        assert "Load model failed" in server.log
        assert not pinged(server.url)


def test_corrupted_weights_stop_the_server_with_one_line(model_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(model_dir, broken)
    (broken / "model-0000.params").write_bytes(b"these are not weights")
    result = subprocess.run(
        serve_command(broken, tmp_path / "base"), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if "sm-detect serve" in line]
    assert "the network files cannot be read" in line
    assert "Traceback" not in result.stderr


def test_weights_of_another_network_stop_the_server(model_dir, tmp_path):
    import mxnet as mx

    broken = tmp_path / "wrong-model"
    shutil.copytree(model_dir, broken)
    mx.nd.save(str(broken / "model-0000.params"), {"arg:unrelated_weight": mx.nd.zeros((1,))})
    result = subprocess.run(
        serve_command(broken, tmp_path / "base"), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "lacks" in result.stderr and "parameters" in result.stderr


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("SM_DETECT_THRESHOLD", "2", "threshold must be between 0 and 1"),
        # known only from the model: checked against its model.json before anything starts
        ("SM_DETECT_CLASSES", "dog;doggo", "this model has no class doggo; it knows person,"),
        ("SM_DETECT_MAX_DETECTIONS", "500", "at most 100, the detections this model's NMS keeps"),
    ],
)
def test_bad_endpoint_setting_stops_the_server_with_one_line(
    model_dir, tmp_path, variable, value, message
):
    result = subprocess.run(
        serve_command(model_dir, tmp_path / "base"),
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **{variable: value}),
    )
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if "sm-detect serve" in line]
    assert f"{variable}='{value}' is not valid: {message}" in line
    assert "Traceback" not in result.stderr and "listening on" not in result.stderr


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/sm-detect-escaped-absolute.txt"])
def test_hostile_archive_is_refused_before_writing(tmp_path, name):
    import io
    import tarfile

    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo(name)
        member.size = 4
        tar.addfile(member, io.BytesIO(b"evil"))
    result = subprocess.run(
        serve_command(archive, tmp_path / "base"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "refusing archive member" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "base" / "escaped.txt").exists()
    assert not os.path.exists("/tmp/sm-detect-escaped-absolute.txt")


def test_missing_model_exits_with_one_clear_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [
            SM_DETECT,
            "serve",
            "--model",
            str(tmp_path / "empty"),
            "--base-dir",
            str(tmp_path / "base"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "lacks model-symbol.json" in result.stderr and "sm-detect package" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_archive_exits_with_one_clear_line(tmp_path):
    result = subprocess.run(
        [SM_DETECT, "serve", "--model", str(tmp_path / "none.tar.gz")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.server
def test_stopping_one_server_leaves_another_serving(model_archive, astronaut_jpeg, tmp_path):
    with (
        running_server(model_archive, tmp_path / "first", **QUICK_START) as first,
        running_server(model_archive, tmp_path / "second", **QUICK_START) as second,
    ):
        assert first.url != second.url
        assert post_image(second, astronaut_jpeg).status_code == 200
        assert second.stop() == 0
        assert "sm-detect.serve stopped" in second.log
        # the first server's model server is untouched: it answers, and keeps answering
        for _ in range(3):
            assert post_image(first, astronaut_jpeg).status_code == 200
        assert pinged(first.url)
        assert "stopped" not in first.log
        assert model_server_processes(str(tmp_path / "first"))


def serve_without_base_dir(model, tmp_dir, port="0"):
    """``sm-detect serve`` as a user runs it: the base directory is its own temporary one."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    command = [SM_DETECT, "serve", "--model", str(model), "--port", port]
    return Server(
        command, server_env(tmp_dir, **QUICK_START), tmp_dir.parent / f"{tmp_dir.name}.log"
    )


@pytest.mark.server
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_server_leaves_no_files(model_archive, tmp_path, stop_signal):
    server = serve_without_base_dir(model_archive, tmp_path / "tmp")
    try:
        server.wait_for_announcement(START_TIMEOUT_SECONDS)
        server.wait_ready(lambda: pinged(server.url), START_TIMEOUT_SECONDS)
        unpacked = [path.name for path in (tmp_path / "tmp").iterdir()]
        assert any(name.startswith("sm-detect-serve-") for name in unpacked), unpacked
        server.process.send_signal(stop_signal)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_start_leaves_no_files(model_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(model_dir, broken)
    (broken / "model-0000.params").write_bytes(b"these are not weights")
    server = serve_without_base_dir(broken, tmp_path / "tmp")
    assert server.process.wait(timeout=120) == 1
    server.stop()
    assert "the network files cannot be read" in server.log
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_port_in_use_is_one_line(model_dir, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = serve_without_base_dir(model_dir, tmp_path / "tmp", str(taken.getsockname()[1]))
        assert server.process.wait(timeout=120) == 1
        server.stop()
    assert "cannot listen on 127.0.0.1" in server.log and "Traceback" not in server.log
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_deep_temp_dir_falls_back_to_tmp_for_the_sockets(tmp_path):
    from container import serve

    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    made = serve.run_directory(str(deep))
    try:
        assert os.path.dirname(made) == "/tmp"
        assert len(os.path.join(made, "management.sock")) <= serve.SOCKET_PATH_MAX_BYTES
        assert os.stat(made).st_mode & 0o777 == 0o700
    finally:
        os.rmdir(made)
    shallow = serve.run_directory(str(tmp_path))
    assert os.path.dirname(shallow) == str(tmp_path)


@pytest.mark.server
def test_requests_before_the_model_is_ready_get_a_clear_503(
    model_archive, astronaut_jpeg, tmp_path
):
    with running_server(model_archive, tmp_path / "server", wait=False) as server:
        early = []
        while True:
            announced = "listening on" in server.log
            answer = post_image(server, astronaut_jpeg)
            if answer.status_code == 200:
                break
            assert not announced, "said it was listening, then did not answer"
            early.append(answer)
            time.sleep(0.2)
        assert early, "the first request came after the model loaded: nothing was checked"
        assert {(a.status_code, a.json()["error"]["code"]) for a in early} == {
            (503, "ModelLoading")
        }
        assert all(a.headers["Retry-After"] == "1" for a in early)
        assert wait_until(lambda: "listening on" in server.log, 10)


def test_serve_says_which_archive_it_serves_and_its_precision(model_archive, tmp_path):
    build = tmp_path / "project" / "build"
    build.mkdir(parents=True)
    shutil.copy(model_archive, build / "model-older.tar.gz")
    shutil.copy(model_archive, build / "model-newer.tar.gz")
    os.utime(build / "model-older.tar.gz", (1, 1))
    command = [SM_DETECT, "serve", "--port", "0", "--base-dir", str(tmp_path / "base")]
    server = Server(command, server_env(tmp_path), tmp_path / "serve.log", cwd=build.parent)
    try:
        assert wait_until(lambda: "serving " in server.log, 60), server.log
        (line,) = [line for line in server.log.splitlines() if line.startswith("serving ")]
        assert line.startswith("serving build/model-newer.tar.gz: yolo3_darknet53_coco, 80 classes")
        assert "fp32 (the newest build/model*.tar.gz; --model picks another)" in line
    finally:
        server.stop()
