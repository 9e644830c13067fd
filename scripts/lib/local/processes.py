"""Run servers as subprocesses and wait for them: shared by the benchmark and the tests.

This project's servers take port 0 and announce the port the kernel gave them (``listening on
URL``): nothing can take it between choosing and binding. Other servers (moto, a registry, AWS's
own serving stack) need a port chosen for them; ``start_on_free_port`` retries with another one
when the chosen port was taken before the server could bind it. Whatever fails says why, with the
last lines of the server's log.
"""

import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

import requests

from container.door.listening import ANNOUNCEMENT_PATTERN

BIN_DIR = os.path.dirname(sys.executable)
ADDRESS_IN_USE = re.compile(r"address already in use|BindException|EADDRINUSE", re.IGNORECASE)
LOG_TAIL_LINES = 40


class ServerFailed(RuntimeError):
    """A server did not start; the message ends with the last lines of its log."""

    def __init__(self, reason: str, log: str) -> None:
        tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        super().__init__(f"{reason}; the last lines of its log:\n{tail}")
        self.log = log


def free_port(host: str = "127.0.0.1", start: int = 20000, end: int = 32000) -> int:
    """A port in [start, end) that is free now (below 32767: MMS refuses higher ones).

    The scan begins at a point that depends on this process, so concurrent callers spread out,
    and wraps around, so every port of a narrow range is tried.
    """
    count = end - start
    if count <= 0:
        raise ValueError(f"empty port range {start}-{end}")
    first = os.getpid() % count
    for offset in range(count):
        port = start + (first + offset) % count
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {start} and {end - 1}")


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    interval: float = 0.5,
    process: subprocess.Popen[bytes] | None = None,
) -> bool:
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


def pinged(url: str) -> bool:
    return requests.get(f"{url}/ping", timeout=5).status_code == 200


class Server:
    """A server subprocess: ``url`` (once known), ``process``, ``log`` (its output so far)."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str] | None,
        log_path: str | os.PathLike[str],
        port: int | None = None,
        cwd: str | None = None,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}" if port is not None else None
        self.log_path = log_path
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )

    @property
    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()

    def wait_for_announcement(self, timeout: float, pattern: str = ANNOUNCEMENT_PATTERN) -> str:
        """The URL the server says it listens on, reached through loopback.

        ``BOUND_PATTERN`` takes the URL of a server that is bound but not yet ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log)
            if found:
                self.url = f"{found['scheme']}://127.0.0.1:{found['port']}"
                return self.url
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited with {self.process.returncode}", self.log)
            time.sleep(0.1)
        raise ServerFailed(f"the server said nowhere where it listens in {timeout} s", self.log)

    def wait_ready(
        self, predicate: Callable[[], object], timeout: float, interval: float = 0.5
    ) -> None:
        """Wait until ``predicate()``; ``ServerFailed`` with the log's tail otherwise."""
        if not wait_until(predicate, timeout, interval, process=self.process):
            code = self.process.poll()
            reason = f"it exited with {code}" if code is not None else f"{timeout} s passed"
            raise ServerFailed(
                f"the server at {self.url} did not become ready ({reason})", self.log
            )

    def stop(self, timeout: float = 30) -> int | None:
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


def start_on_free_port(
    start: Callable[[int], "Server"],
    ready: Callable[["Server"], object],
    timeout: float,
    attempts: int = 3,
) -> "Server":
    """``start(port) -> Server`` on a free port, retried when the port was taken meanwhile.

    ``ready(server)`` says when it answers.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be 1 or more, not {attempts}")
    failure = ServerFailed("never started", "")
    for _ in range(attempts):
        server = start(free_port())
        try:
            server.wait_ready(functools.partial(ready, server), timeout)
            return server
        except ServerFailed as error:
            server.stop()
            failure = error
            if not ADDRESS_IN_USE.search(error.log):
                break
    raise failure


def server_env(tmp_dir: str | os.PathLike[str], **extra: object) -> dict[str, str]:
    """This environment, with this venv's scripts first on PATH and a private temp dir."""
    env = dict(os.environ)
    env.update({"PATH": BIN_DIR + os.pathsep + env.get("PATH", ""), "TMPDIR": str(tmp_dir)})
    env.update({key: str(value) for key, value in extra.items()})
    return env
