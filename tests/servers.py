"""Start real servers for tests: this project's announce their own port; others retry one."""

import contextlib
import os

import requests

from container.door.listening import BOUND_PATTERN
from scripts.lib.local.processes import (
    BIN_DIR,
    Server,
    ServerFailed,
    pinged,
    start_on_free_port,
    wait_until,
)
from scripts.lib.local.processes import server_env as base_server_env

START_TIMEOUT_SECONDS = 180
# for tests of a server's life (start, stop, restart, its files and logs), not of its answers:
# one canvas to warm at start instead of the default mode's 13 (3 s to ready instead of 10)
QUICK_START = {"SM_DETECT_MODE": "square320"}

__all__ = [
    "QUICK_START",
    "Server",
    "ServerFailed",
    "pinged",
    "post_image",
    "running_server",
    "server_env",
    "start_gateway",
    "start_on_free_port",
    "wait_until",
]


def server_env(tmp_dir, **extra):
    """The server's environment: the same on every machine unless a test says otherwise.

    One worker, so that answers compared within one server come from one process, and two
    OpenMP threads (unless the test runner sets its own), whatever the number of cores.
    """
    fixed = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    return base_server_env(tmp_dir, **{**fixed, **extra})


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
        if wait:
            # announced once /ping would answer 200
            server.wait_for_announcement(START_TIMEOUT_SECONDS)
            assert pinged(server.url)
        else:
            server.wait_for_announcement(START_TIMEOUT_SECONDS, BOUND_PATTERN)
        yield server
    finally:
        server.stop()


def start_gateway(upstream, root, endpoint, region, options, env=None):
    """`sm-detect gateway` on a port it picks, in front of ``upstream``; ``.cert`` to trust.

    ``endpoint`` and ``region`` are the signed runtime's; empty for ``--public``. Without
    ``upstream``, ``options`` name the variants.
    """
    command = [os.path.join(BIN_DIR, "sm-detect"), "gateway"]
    command += ["--upstream", upstream] if upstream else []
    if endpoint:
        command += ["--endpoint", endpoint, "--region", region]
    command += ["--port", "0", "--cert-dir", str(root / "tls"), *options]
    running = Server(command, env or dict(os.environ), root / "gateway.log")
    running.wait_for_announcement(60)
    running.cert = str(root / "tls" / "cert.pem")
    running.wait_ready(
        lambda: requests.get(running.url, verify=running.cert, timeout=5).status_code < 500, 60
    )
    return running


def post_image(server, body, content_type="image/jpeg", timeout=60, **headers):
    """POST ``body`` to a server's /invocations; the ``requests`` response."""
    return requests.post(
        f"{server.url}/invocations",
        data=body,
        headers={"Content-Type": content_type, **headers},
        timeout=timeout,
    )
