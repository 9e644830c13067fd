"""Start real servers for tests: a subprocess on a free loopback port, stopped with SIGTERM."""

import contextlib
import os

from container.serve import free_port
from scripts.lib.processes import BIN_DIR, Server, pinged, wait_until
from scripts.lib.processes import server_env as base_server_env

START_TIMEOUT_SECONDS = 180

__all__ = ["Server", "pinged", "running_server", "server_env", "wait_until"]


def server_env(tmp_dir, port, **extra):
    """The server's environment; two OpenMP threads unless the test runner says otherwise."""
    threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return base_server_env(tmp_dir, port, **{**threads, **extra})


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
