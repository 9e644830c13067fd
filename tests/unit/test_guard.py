"""The guard's limits, on a real aiohttp server on loopback with small limits and raw sockets."""

import asyncio
import contextlib
import json
import logging
import re
import socket
import ssl
import threading
import time

import pytest
from aiohttp import web

from container.door import guard, listening
from scripts.lib.doors import certificates
from scripts.lib.local.processes import wait_until

LIMITS = guard.Limits(
    max_body_bytes=1000,
    max_connections=4,
    idle_seconds=1.0,
    body_seconds=1.0,
    max_buffered_bytes=1500,
)


def error_response(status, code, message):
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class Door:
    """A tiny door: POST /echo reads the body through the guard and holds it ``hold`` seconds."""

    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.budget = guard.Budget(LIMITS.buffered_bytes)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = None

    async def echo(self, request):
        with self.budget.holding() as share:
            try:
                body = await guard.read_body(request, LIMITS, share)
            except guard.Refused as refused:
                return error_response(refused.status, refused.code, refused.message)
            await asyncio.sleep(float(request.query.get("hold", "0")))
            return web.json_response({"bytes": len(body)})

    def run(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/echo", self.echo)
        runner = guard.runner(app, LIMITS)
        self.loop.run_until_complete(runner.setup())
        url = self.loop.run_until_complete(
            listening.listen(runner, "127.0.0.1", 0, LIMITS, error_response, self.ssl_context)
        )
        self.port = int(url.rsplit(":", 1)[1])
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())


@contextlib.contextmanager
def running_door(ssl_context=None):
    running = Door(ssl_context)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    running.ready.wait(10)
    yield running
    running.loop.call_soon_threadsafe(running.loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def door():
    with running_door() as running:
        yield running


@pytest.fixture(scope="module")
def tls_door(tmp_path_factory):
    cert, key = certificates.self_signed(str(tmp_path_factory.mktemp("tls")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with running_door(context) as running:
        running.cert = cert
        yield running


def connect(door):
    return socket.create_connection(("127.0.0.1", door.port), timeout=10)


def exchange(door, raw):
    """Send ``raw`` bytes, read until the server closes or answers; (status, JSON body)."""
    with connect(door) as conn:
        conn.sendall(raw)
        return read_response(conn)


def read_response(conn):
    data = b""
    with contextlib.suppress(ConnectionError, TimeoutError):
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < content_length(data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else None
    return status, json.loads(body) if body else None


def content_length(data):
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def post(body, headers=b"", path=b"/echo"):
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + headers
        + b"\r\n"
        + body
    )


def closed_within(conn, seconds):
    """Seconds until the server closed ``conn`` (None if it stayed open)."""
    started = time.monotonic()
    conn.settimeout(seconds)
    with contextlib.suppress(TimeoutError):
        while conn.recv(65536):
            pass
        return time.monotonic() - started
    return None


def test_a_body_within_the_limit_is_read(door):
    status, body = exchange(door, post(b"x" * 1000, b"Content-Length: 1000\r\n"))
    assert (status, body) == (200, {"bytes": 1000})


def test_a_declared_size_over_the_limit_is_refused_unread(door):
    status, body = exchange(door, post(b"", b"Content-Length: 5000000\r\n"))
    assert status == 413 and body["error"]["code"] == "PayloadTooLarge"


def test_a_chunked_body_over_the_limit_is_a_413(door):
    chunks = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    status, body = exchange(door, post(chunks, b"Transfer-Encoding: chunked\r\n"))
    assert status == 413 and "limit of 1000" in body["error"]["message"]
    # it once said "the body has more than 1000 bytes bytes": the size it had read, now
    said = re.fullmatch(
        r"the body has at least (\d+) bytes, more than the limit of 1000", body["error"]["message"]
    )
    assert said and 1000 < int(said[1]) <= 8 * 256


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"br"])
def test_an_encoded_body_is_a_415(door, encoding):
    not_compressed = b"this is not gzip at all"
    headers = b"Content-Encoding: " + encoding + b"\r\nContent-Length: 23\r\n"
    status, body = exchange(door, post(not_compressed, headers))
    assert status == 415 and body["error"]["code"] == "UnsupportedContentEncoding"


def test_a_slow_body_is_a_408(door):
    with connect(door) as conn:
        conn.sendall(post(b"ab", b"Content-Length: 100\r\n"))
        status, body = read_response(conn)
    assert status == 408 and body["error"]["code"] == "RequestTimeout"


def test_idle_and_slow_header_connections_are_closed(door):
    with connect(door) as idle, connect(door) as slow:
        slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(idle, 5) is not None
        assert closed_within(slow, 5) is not None


def admitted_again(door):
    """Whether the door answers a request within a few seconds (closed connections counted out)."""
    return wait_until(
        lambda: exchange(door, post(b"x", b"Content-Length: 1\r\n"))[0] == 200, 5, interval=0.1
    )


def test_connections_over_the_cap_get_a_503_and_are_closed(door):
    # counted as accepted, in the order the kernel queued them: the last one is over the cap
    held = [connect(door) for _ in range(LIMITS.max_connections)]
    try:
        status, body = read_response(connect(door))
        assert status == 503 and body["error"]["code"] == "ServiceUnavailable"
    finally:
        for conn in held:
            conn.close()
    assert admitted_again(door)


def test_connections_opened_at_once_are_counted_as_they_are_accepted(door):
    # all connected before the server accepts any: the cap holds within one accept batch
    opened = [connect(door) for _ in range(3 * LIMITS.max_connections)]
    try:
        turned_away = 0
        for conn in opened:
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # admitted: waiting for a request
                turned_away += b" 503 " in conn.recv(65536)[:20]
        assert turned_away == len(opened) - LIMITS.max_connections
    finally:
        for conn in opened:
            conn.close()
    assert admitted_again(door)


def test_failed_tls_handshakes_give_their_places_back(tls_door):
    # asyncio tells a handler nothing of a handshake that failed: without counting those out,
    # as many plain-text probes as the cap would shut the door for good
    for _ in range(2 * LIMITS.max_connections):
        with connect(tls_door) as probe:
            probe.sendall(b"GET / HTTP/1.1\r\n\r\n")
            closed_within(probe, 5)
    client = ssl.create_default_context(cafile=tls_door.cert)

    def answered():
        with (
            connect(tls_door) as conn,
            client.wrap_socket(conn, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(post(b"x", b"Content-Length: 1\r\n"))
            return read_response(tls)[0]

    assert wait_until(lambda: answered() == 200, LIMITS.idle_seconds + 5, interval=0.2)


def test_bodies_held_at_once_share_a_budget(door):
    # the first request holds 1000 bytes for 2 s; the second does not fit in the 1500 left
    with connect(door) as first:
        first.sendall(post(b"x" * 1000, b"Content-Length: 1000\r\n", b"/echo?hold=2"))
        assert wait_until(lambda: door.budget.used == 1000, 2, interval=0.01)  # it is held
        status, body = exchange(door, post(b"y" * 800, b"Content-Length: 800\r\n"))
        assert status == 503 and "busy" in body["error"]["message"]
        assert read_response(first) == (200, {"bytes": 1000})
    assert exchange(door, post(b"y" * 800, b"Content-Length: 800\r\n")) == (200, {"bytes": 800})


@pytest.mark.parametrize(
    "raw",
    [
        b"FOO /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GARBAGE\r\n\r\n",
    ],
)
def test_malformed_requests_answer_in_the_doors_shape(door, raw):
    status, body = exchange(door, raw)
    assert status == 400 and body["error"]["code"] == "BadRequest"


def test_log_lines_mask_credentials_and_escape_control_characters(door, caplog):
    guard.protect_logs()
    secret_header = (
        b"Authorization: AWS4-HMAC-SHA256 Credential=AKIDVISIBLEKEY123/20260101/us-east-1/"
        b"sagemaker/aws4_request, Signature=" + b"f" * 64 + b"\r\n"
    )
    caplog.set_level(logging.INFO)
    exchange(
        door, b"POST /echo HTTP/1.1\r\n" + secret_header + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n"
    )
    time.sleep(0.2)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused a malformed request" in logged
    assert "AKIDVISIBLEKEY123" not in logged and "f" * 64 not in logged
    assert all(record.exc_info is None for record in caplog.records)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("/endpoints/x\r\n2026 forged line", "/endpoints/x\\r\\n2026 forged line"),
        ("/a\x1b[31mred", "/a\\x1b[31mred"),
        ("/a\x0b\x0c\u2028b", "/a\\x0b\\x0c\\u2028b"),
    ],
)
def test_printable_escapes_what_could_forge_a_log_line(text, shown):
    assert guard.printable(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "Credential=AKIDSECRETKEY/20260101/us-east-1/sagemaker/x",  # pragma: allowlist secret
        "X-Amz-Security-Token: FwoGZXIvYXdzEJr//////////session",  # pragma: allowlist secret
        "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "x-api-key: abcdEFGHijkl1234",
        "Signature=0123456789abcdef",  # pragma: allowlist secret
    ],
)
def test_mask_hides_credentials(text):
    masked = guard.mask(text)
    secret = text.split("=", 1)[-1] if "=" in text else text.split(": ", 1)[1]
    assert secret.split()[-1].split("/")[0] not in masked and "***" in masked
