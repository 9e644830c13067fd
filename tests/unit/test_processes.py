"""Starting servers without races: free ports, announced ports, and the log when it fails."""

import socket
import sys

import pytest
import requests

from scripts.lib.local import processes


def taken_ports(count):
    """``count`` consecutive loopback ports, all bound by this process."""
    for base in range(24000, 31000, 10):
        sockets = []
        try:
            for port in range(base, base + count):
                held = socket.socket()
                sockets.append(held)
                held.bind(("127.0.0.1", port))
            return base, sockets
        except OSError:
            for held in sockets:
                held.close()
    raise RuntimeError("no run of free ports to take")


def test_free_port_scans_a_narrow_range_from_any_start():
    base, held = taken_ports(5)
    try:
        held.pop(3).close()  # only the fourth port of the five is free
        for _ in range(5):
            assert processes.free_port(start=base, end=base + 5) == base + 3
    finally:
        for sock in held:
            sock.close()


def test_free_port_says_when_the_range_is_full():
    base, held = taken_ports(5)
    try:
        with pytest.raises(RuntimeError, match=f"no free port between {base} and {base + 4}"):
            processes.free_port(start=base, end=base + 5)
    finally:
        for sock in held:
            sock.close()


def http_server(tmp_path):
    def start(port):
        return processes.Server(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
            None,
            tmp_path / f"http-{port}.log",
            port=port,
        )

    return start


def test_a_port_taken_before_the_server_binds_it_is_retried(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        offered = [taken.getsockname()[1], processes.free_port()]
        monkeypatch.setattr(processes, "free_port", lambda: offered.pop(0))
        server = processes.start_on_free_port(
            http_server(tmp_path), lambda server: requests.get(server.url, timeout=5).ok, 30
        )
    try:
        assert offered == []  # the first port failed, the second one serves
        assert requests.get(server.url, timeout=5).status_code == 200
    finally:
        server.stop()


def test_a_server_that_fails_otherwise_says_why(tmp_path):
    def start(port):
        command = [sys.executable, "-c", "import sys; print('no model here'); sys.exit(3)"]
        return processes.Server(command, None, tmp_path / "failing.log", port=port)

    with pytest.raises(processes.ServerFailed, match=r"(?s)it exited with 3.*no model here"):
        processes.start_on_free_port(start, lambda server: False, 30)


def test_no_attempt_at_all_is_a_clear_error_not_raise_none():
    # it used to end in `raise None`, a TypeError that named nothing
    with pytest.raises(ValueError, match="attempts must be 1 or more"):
        processes.start_on_free_port(lambda port: None, lambda server: True, 1, attempts=0)


def test_an_announced_port_is_read_from_the_log(tmp_path):
    script = (
        "import time; print('x listening on http://0.0.0.0:43210; more', flush=True); "
        "time.sleep(30)"
    )
    server = processes.Server([sys.executable, "-c", script], None, tmp_path / "announce.log")
    try:
        assert server.wait_for_announcement(10) == "http://127.0.0.1:43210"
    finally:
        server.stop()
