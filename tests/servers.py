"""Start real servers for tests: a subprocess on a free loopback port, stopped with SIGTERM."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import requests

from container.serve import free_port

BIN_DIR = os.path.dirname(sys.executable)
START_TIMEOUT_SECONDS = 180


def wait_until(predicate, timeout, interval=0.5, process=None):
    """Poll ``predicate`` until it is true; False on timeout or when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(requests.RequestException):
            if predicate():
                return True
        time.sleep(interval)
    return False


def pinged(url):
    return requests.get(f"{url}/ping", timeout=5).status_code == 200


class Server:
    """A server subprocess: ``url``, ``process``, ``log`` (its combined output so far)."""

    def __init__(self, command, env, port, log_path):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()

    def stop(self, timeout=30):
        """SIGTERM, as SageMaker and Docker send; returns the exit code (None if it hung)."""
        code = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
        # whatever is left of the process group (MMS workers) must not outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log_file.close()
        return code


def server_env(tmp_dir, port, **extra):
    env = dict(os.environ)
    env.update(
        {
            "PATH": BIN_DIR + os.pathsep + env.get("PATH", ""),
            "TMPDIR": str(tmp_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"),
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextlib.contextmanager
def running_server(model, tmp_dir, wait=True, **extra_env):
    """``sm-detect serve`` on a free port, waited on until /ping answers 200."""
    port = free_port()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    command = [
        os.path.join(BIN_DIR, "sm-detect"),
        "serve",
        "--model",
        str(model),
        "--port",
        str(port),
        "--base-dir",
        str(tmp_dir / "base"),
    ]
    server = Server(command, server_env(tmp_dir, port, **extra_env), port, tmp_dir / "server.log")
    try:
        if wait and not wait_until(
            lambda: pinged(server.url), START_TIMEOUT_SECONDS, process=server.process
        ):
            raise RuntimeError(f"server did not become healthy:\n{server.log[-5000:]}")
        yield server
    finally:
        server.stop()
