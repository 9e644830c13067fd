"""The `serve` entrypoint: configuration, honest /ping, start-up hazards, SIGTERM."""

import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest
import requests

from container import serve
from container.serve import free_port
from tests.conftest import SM_DETECT
from tests.servers import pinged, running_server, wait_until

GIB = 1 << 30


@pytest.mark.parametrize(
    "cpus, memory, tuning, workers",
    [
        (2, 24 * GIB, "latency", 1),
        (1, 24 * GIB, "latency", 1),
        (16, 24 * GIB, "latency", 8),
        (16, 3 * GIB, "latency", 2),  # a worker peaks at about 1.2 GiB
        (2, 24 * GIB, "throughput", 2),
        (16, 24 * GIB, "throughput", 16),
        (16, 3 * GIB, "throughput", 2),
    ],
)
def test_default_workers(cpus, memory, tuning, workers):
    assert serve.default_workers(cpus, memory, tuning) == workers


def test_throughput_tuning_gives_one_single_threaded_worker_per_core(tmp_path):
    environ = {"TMPDIR": str(tmp_path), "SM_DETECT_TUNING": "throughput"}
    settings = serve.configure(environ, "/opt/ml")
    assert settings["workers"] == serve.default_workers(tuning="throughput")
    assert environ["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // settings["workers"]))


def test_unknown_tuning_stops_serve_with_one_line(tmp_path):
    with pytest.raises(SystemExit, match="SM_DETECT_TUNING must be latency or throughput"):
        serve.configure({"TMPDIR": str(tmp_path), "SM_DETECT_TUNING": "fast"}, "/opt/ml")


def test_configure_maps_sagemaker_settings(tmp_path):
    environ = {
        "TMPDIR": str(tmp_path),
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "90",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
        "SAGEMAKER_BIND_TO_PORT": "9999",
        "SAGEMAKER_SAFE_PORT_RANGE": "21000-21999",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "10",
    }
    settings = serve.configure(environ, "/opt/ml")
    assert environ["SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS"] == "90"
    assert environ["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "2"  # MMS reads this key in minutes
    assert environ["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert settings["public_port"] == 9999 and settings["workers"] == 2
    assert 21000 <= settings["internal_port"] <= 21999
    assert environ["SAGEMAKER_BIND_TO_PORT"] == str(settings["internal_port"])
    assert environ["MMS_INFERENCE_ADDRESS"] == f"http://127.0.0.1:{settings['internal_port']}"
    assert settings["max_payload_bytes"] == 10 * 1024 * 1024
    assert os.path.dirname(environ["TEMP"]) == str(tmp_path) == os.path.dirname(environ["TMPDIR"])


def test_configure_defaults(tmp_path):
    environ = {"TMPDIR": str(tmp_path)}
    settings = serve.configure(environ, "/opt/ml")
    assert settings["public_port"] == 8080 and settings["timeout"] == 60
    assert environ["SAGEMAKER_MODEL_SERVER_TIMEOUT"] == "1"
    assert settings["max_payload_bytes"] == 6 * 1024 * 1024


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
    ) as server:
        # the first healthy /ping means a request is answered, not queued or refused
        response = requests.post(
            f"{server.url}/invocations",
            data=astronaut_jpeg,
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
        assert response.status_code == 200
        assert "Default workers per model: 2" in server.log
        config = next(tmp_path.joinpath("server").glob("sm-detect-*/mms.properties")).read_text()
        assert "default_response_timeout_seconds=90" in config
        assert "default_response_timeout=2" in config
        assert len(model_server_processes(str(tmp_path / "server"))) >= 3  # java + 2 workers

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
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
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            try:
                answers.add(requests.get(f"{server.url}/ping", timeout=5).status_code)
            except requests.ConnectionError:
                answers.add("refused")
            time.sleep(0.5)
        assert 503 in answers, f"the front door never answered: {answers}\n{server.log[-3000:]}"
        assert 200 not in answers
        assert "Load model failed" in server.log
        assert not pinged(server.url)


def serve_command(model, tmp_path):
    return [
        SM_DETECT,
        "serve",
        "--model",
        str(model),
        "--base-dir",
        str(tmp_path / "base"),
        "--port",
        str(free_port()),
    ]


def test_corrupted_weights_stop_the_server_with_one_line(model_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(model_dir, broken)
    (broken / "model-0000.params").write_bytes(b"these are not weights")
    result = subprocess.run(
        serve_command(broken, tmp_path), capture_output=True, text=True, timeout=120
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
        serve_command(broken, tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "lacks" in result.stderr and "parameters" in result.stderr


def test_bad_endpoint_setting_stops_the_server_with_one_line(model_dir, tmp_path):
    result = subprocess.run(
        serve_command(model_dir, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, SM_DETECT_THRESHOLD="2"),
    )
    assert result.returncode != 0
    assert "bad endpoint setting: threshold must be between 0 and 1" in result.stderr
    assert "Traceback" not in result.stderr


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
        serve_command(archive, tmp_path), capture_output=True, text=True, timeout=60
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
            "20999",
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
