"""Run servers as subprocesses and wait for them: shared by the benchmark and the tests."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import requests

BIN_DIR = os.path.dirname(sys.executable)


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
        self.started = time.monotonic()
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
        # whatever is left of the process group (MMS workers) must not outlive the server
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log_file.close()
        return code


def server_env(tmp_dir, port, **extra):
    """This environment, with this venv's scripts first on PATH and a private temp dir."""
    env = dict(os.environ)
    env.update(
        {
            "PATH": BIN_DIR + os.pathsep + env.get("PATH", ""),
            "TMPDIR": str(tmp_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env
