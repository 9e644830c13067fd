"""The servers under test: this project's ``serve`` and AWS's own MXNet serving stack.

Both start as subprocesses on a free loopback port with a SageMaker-like base directory; the
benchmark times them from process start, and reads each model-server worker's peak RSS.
"""

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any

import psutil
import requests

from container.door import prometheus
from scripts.lib.bench import seed
from scripts.lib.local.processes import Server, free_port, server_env, wait_until

START_TIMEOUT_SECONDS = 300

# AWS's toolkit writes its MMS config to /etc; here it goes to the run's own folder instead.
# It also adopts whichever MMS frontend it finds first on the machine, and kills that one when
# it is stopped: another server running beside the benchmark would die with it, so it may only
# adopt the frontend started with this run's config file.
START_AWS_TOOLKIT = """
import contextlib, sys
import psutil
from sagemaker_inference import model_server
config = sys.argv[1]
model_server.MMS_CONFIG_FILE = config

def this_runs_frontend():
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            command = process.cmdline()
            if model_server.MMS_NAMESPACE in command and config in command:
                return process
    raise RuntimeError("multi-model-server did not start")

model_server._retrieve_mms_server_process = this_runs_frontend
from sagemaker_mxnet_serving_container import serving
serving.main()
"""


def model_server_workers(run_dir: str) -> list[psutil.Process]:
    """The MMS worker processes that hold a model, of the server whose temp dir is ``run_dir``.

    MMS starts each worker as a launcher process that forks the one loading the model; both run
    ``model_service_worker.py`` with a socket in the server's temp dir, and the Java frontend
    that starts them is not a child of the process the benchmark started.
    """
    workers = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            command = " ".join(process.info["cmdline"] or ())
            parent = " ".join(process.parent().cmdline()) if process.parent() else ""
            if (
                "model_service_worker" in command
                and run_dir in command
                and ("model_service_worker" in parent)
            ):
                workers.append(process)
    return workers


def peak_rss_bytes(process: psutil.Process) -> int:
    """The kernel's high-water mark of ``process``'s resident memory (VmHWM)."""
    with open(f"/proc/{process.pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def environment(run_dir: str, env: Mapping[str, object]) -> dict[str, str]:
    """The server's environment: ``env`` over this one, OpenMP threads only as ``env`` says."""
    environ = server_env(run_dir, **env)
    if "OMP_NUM_THREADS" not in env:
        environ.pop("OMP_NUM_THREADS", None)  # each stack picks its own default
    return environ


def start_ours(model_dir: str, run_dir: str, env: Mapping[str, object]) -> Server:
    """``sm-detect serve`` on ``model_dir``, a directory named ``model``, used in place.

    It picks its own port and says which (``cold_start`` waits for that line).
    """
    command = [sys.executable, "-m", "scripts.cli", "serve", "--model", str(model_dir)]
    command += ["--port", "0", "--base-dir", str(os.path.dirname(model_dir))]
    log_path = os.path.join(run_dir, "server.log")
    return Server(command, environment(run_dir, env), log_path)


def start_aws(model_dir: str, run_dir: str, env: Mapping[str, object]) -> Server:
    """sagemaker-mxnet-inference on MMS with its defaults, running the seed's entry point."""
    base_dir = os.path.join(run_dir, "base")
    code_dir = os.path.join(base_dir, "model", "code")
    os.makedirs(code_dir, exist_ok=True)
    for name in os.listdir(model_dir):
        if os.path.isfile(os.path.join(model_dir, name)):
            os.link(os.path.join(model_dir, name), os.path.join(base_dir, "model", name))
    shutil.copyfile(seed.__file__, os.path.join(code_dir, "inference.py"))
    port = free_port()  # the toolkit binds the port it is given
    env = {"SAGEMAKER_BASE_DIR": base_dir, "TEMP": run_dir, "SAGEMAKER_BIND_TO_PORT": port, **env}
    command = [sys.executable, "-c", START_AWS_TOOLKIT, os.path.join(run_dir, "mms.properties")]
    log_path = os.path.join(run_dir, "server.log")
    return Server(command, environment(run_dir, env), log_path, port=port)


def server_histogram(url: str) -> dict[str, Any]:
    """The server's own account of the run, from its ``/metrics``: the whole-request latency
    histogram and each stage's mean, in seconds."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {**prometheus.latency_histogram(text), "stage_means": prometheus.stage_means(text)}


def cold_start(server: Server, body: bytes, headers: Mapping[str, str]) -> dict[str, float]:
    """Seconds from process start to the first /ping 200 and to the first answered request,
    and the requests it posted until one was answered."""
    started = server.started
    if server.url is None:
        server.wait_for_announcement(START_TIMEOUT_SECONDS)
    if not wait_until(
        lambda: requests.get(f"{server.url}/ping", timeout=5).status_code == 200,
        START_TIMEOUT_SECONDS,
        interval=0.05,
        process=server.process,
    ):
        raise RuntimeError(f"the server never answered /ping:\n{server.log[-3000:]}")
    pinged = time.monotonic() - started
    posted: list[requests.Response] = []

    def answered() -> bool:
        posted.append(
            requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=120)
        )
        return posted[-1].status_code == 200

    if not wait_until(
        answered,
        START_TIMEOUT_SECONDS,
        interval=0.05,
        process=server.process,
    ):
        raise RuntimeError(f"the server never answered a request:\n{server.log[-3000:]}")
    return {"ping": pinged, "first_answer": time.monotonic() - started, "posts": len(posted)}
