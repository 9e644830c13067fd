"""Start real servers for tests: this project's announce their own port; others retry one."""

import contextlib
import os

from scripts.lib.processes import (
    BIN_DIR,
    Server,
    ServerFailed,
    pinged,
    start_on_free_port,
    wait_until,
)
from scripts.lib.processes import server_env as base_server_env

START_TIMEOUT_SECONDS = 180

__all__ = [
    "Server",
    "ServerFailed",
    "pinged",
    "running_server",
    "server_env",
    "start_on_free_port",
    "wait_until",
]


def server_env(tmp_dir, **extra):
    """The server's environment; two OpenMP threads unless the test runner says otherwise."""
    threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return base_server_env(tmp_dir, **{**threads, **extra})


def serve_command(model, base_dir, port=0):
    return [
        os.path.join(BIN_DIR, "sm-detect"),
        "serve",
        "--model",
        str(model),
        "--port",
        str(port),
        "--base-dir",
        str(base_dir),
    ]


@contextlib.contextmanager
def running_server(model, tmp_dir, wait=True, **extra_env):
    """``sm-detect serve`` on a port it picks, waited on until /ping answers 200."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    server = Server(
        serve_command(model, tmp_dir / "base"),
        server_env(tmp_dir, **extra_env),
        tmp_dir / "server.log",
    )
    try:
        server.wait_for_announcement(START_TIMEOUT_SECONDS)
        if wait:
            server.wait_ready(lambda: pinged(server.url), START_TIMEOUT_SECONDS)
        yield server
    finally:
        server.stop()
