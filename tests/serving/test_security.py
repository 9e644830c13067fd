"""The doors under attack: the real front door and the real signing gateway, as SECURITY.md says.

Memory is asserted as a bound on the gateway's resident-set growth, never as a time.
"""

import asyncio
import gzip
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import tarfile
import threading
import time

import boto3
import psutil
import pytest
import requests
from botocore.exceptions import ClientError

from scripts.lib.clients import sigv4_signer
from tests.servers import QUICK_START, post_image, running_server, start_gateway, wait_until

pytestmark = pytest.mark.server
REGION = "us-east-1"
ENDPOINT = "yolo"
KEY, SECRET = "AKIDSECURITYTEST0001", "security-test-secret-not-real"  # pragma: allowlist secret
ATTACK_CONNECTIONS = 200
ATTACK_BYTES_PER_CONNECTION = 3 * 1024 * 1024  # 600 MB in all: far above the bound below
MEMORY_BOUND_MB = 300


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    env.pop("AWS_SESSION_TOKEN", None)
    running = start_gateway(
        server.url, tmp_path_factory.mktemp("gateway"), ENDPOINT, REGION, [], env
    )
    yield running
    running.stop()


def session():
    return boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION)


def signed_invoke(gateway, body, **options):
    return sigv4_signer.invoke_endpoint(
        ENDPOINT,
        body,
        REGION,
        session=session(),
        endpoint_url=gateway.url,
        verify=gateway.cert,
        **options,
    )


def raw_exchange(url, raw, cert=None, timeout=30):
    """``raw`` bytes to the server at ``url`` (TLS when https); (status, headers, body)."""
    host, port = url.split("://")[1].split(":")
    conn = socket.create_connection((host, int(port)), timeout=timeout)
    if url.startswith("https"):
        conn = ssl.create_default_context(cafile=cert).wrap_socket(conn, server_hostname=host)
    with conn:
        conn.sendall(raw)
        data = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except (ConnectionError, ssl.SSLError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lengths = [
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            if lengths and len(body) >= lengths[0]:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {
        name.strip().lower().decode(): value.strip().decode(errors="replace")
        for name, _, value in (line.partition(b":") for line in lines[1:])
    }
    return int(lines[0].split(b" ")[1]), headers, json.loads(body) if body else None


def test_unsigned_chunked_uploads_cannot_take_the_gateways_memory(gateway, astronaut_jpeg):
    process = psutil.Process(gateway.process.pid)
    before = process.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    async def attacker(context, port):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(
                f"POST /endpoints/{ENDPOINT}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            chunk = b"10000\r\n" + b"\0" * 0x10000 + b"\r\n"
            for _ in range(ATTACK_BYTES_PER_CONNECTION // 0x10000):
                writer.write(chunk)
                await writer.drain()
            writer.close()
        except (ConnectionError, ssl.SSLError, OSError):
            pass  # refused and closed by the gateway: what should happen

    async def attack():
        context = ssl.create_default_context(cafile=gateway.cert)
        port = int(gateway.url.rsplit(":", 1)[1])
        await asyncio.gather(*(attacker(context, port) for _ in range(ATTACK_CONNECTIONS)))

    answered = []

    def legitimate_client():
        while not stop.is_set():
            answered.append(signed_invoke(gateway, astronaut_jpeg).status_code)

    threads = [threading.Thread(target=sample), threading.Thread(target=legitimate_client)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    asyncio.run(attack())
    attack_seconds = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(120)
    growth_mb = (peak[0] - before) / 1e6
    print(
        f"\n{ATTACK_CONNECTIONS} unsigned chunked uploads of {ATTACK_BYTES_PER_CONNECTION >> 20} MB"
        f" in {attack_seconds:.1f} s: gateway RSS {before / 1e6:.0f} MB, peak +{growth_mb:.0f} MB;"
        f" signed requests answered meanwhile: {answered}"
    )
    assert growth_mb < MEMORY_BOUND_MB
    assert answered and set(answered) == {200}
    assert signed_invoke(gateway, astronaut_jpeg).status_code == 200


def test_gateway_refuses_an_encoded_body_in_awss_shape(gateway, astronaut_jpeg):
    unsigned = requests.post(
        f"{gateway.url}/endpoints/{ENDPOINT}/invocations",
        data=b"not gzip",
        headers={"Content-Encoding": "gzip", "Content-Type": "image/jpeg"},
        verify=gateway.cert,
        timeout=30,
    )
    assert unsigned.status_code == 403
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MB in about 64 KB
    prepared = sigv4_signer.signed_request(
        ENDPOINT, bomb, REGION, session=session(), endpoint_url=gateway.url
    )
    prepared.headers["Content-Encoding"] = "gzip"
    with requests.Session() as http:
        refused = http.send(prepared, verify=gateway.cert, timeout=30)
    assert refused.status_code == 415 and refused.headers["x-amzn-ErrorType"] == "ValidationError"
    assert "Content-Encoding" in refused.json()["message"]


def test_a_non_ascii_host_is_a_403(gateway):
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={KEY}/{date[:8]}/{REGION}/sagemaker/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )
    raw = (
        f"POST /endpoints/{ENDPOINT}/invocations HTTP/1.1\r\n".encode()
        + b"Host: \xff\r\n"
        + f"X-Amz-Date: {date}\r\nAuthorization: {authorization}\r\n".encode()
        + b"Content-Length: 1\r\n\r\nx"
    )
    status, headers, _ = raw_exchange(gateway.url, raw, gateway.cert)
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_an_unknown_method_answers_in_each_doors_shape(server, gateway):
    status, _, body = raw_exchange(server.url, b"FOO /invocations HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and body["error"]["code"] == "BadRequest"
    status, _, body = raw_exchange(
        gateway.url, b"FOO /endpoints/yolo/invocations HTTP/1.1\r\nHost: x\r\n\r\n", gateway.cert
    )
    assert status == 400 and body["message"]


def test_a_signature_for_one_path_is_refused_on_another_spelling(gateway, astronaut_jpeg):
    prepared = sigv4_signer.signed_request(
        ENDPOINT, astronaut_jpeg, REGION, session=session(), endpoint_url=gateway.url
    )
    prepared.url = prepared.url.replace("/endpoints/yolo/", "/endpoints/yol%6F/")
    with requests.Session() as http:
        response = http.send(prepared, verify=gateway.cert, timeout=30)
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["a:b", "it's", "100%"])
def test_boto3_names_with_escaped_characters_pass_the_signature_check(gateway, name):
    with pytest.raises(ClientError) as refused:
        session().client(
            "sagemaker-runtime", endpoint_url=gateway.url, verify=gateway.cert
        ).invoke_endpoint(EndpointName=name, Body=b"x", ContentType="image/jpeg")
    # past the signature (a 403), to the endpoint name: this twin serves only "yolo"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_non_ascii_custom_attributes_are_a_400_at_both_doors(server, gateway, astronaut_jpeg):
    attributes = "classes=dög".encode()
    raw = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"X-Amzn-SageMaker-Custom-Attributes: "
        + attributes
        + b"\r\n"
        + f"Content-Length: {len(astronaut_jpeg)}\r\n\r\n".encode()
        + astronaut_jpeg
    )
    status, _, body = raw_exchange(server.url, raw)
    assert status == 400 and body["error"]["code"] == "InvalidParameter"
    response = signed_invoke(gateway, astronaut_jpeg, custom_attributes="classes=dög")
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "ValidationError"


def test_an_8kb_custom_attributes_header_is_our_400_not_the_model_servers(server, astronaut_jpeg):
    response = requests.post(
        f"{server.url}/invocations",
        data=astronaut_jpeg,
        headers={
            "Content-Type": "image/jpeg",
            "X-Amzn-SageMaker-Custom-Attributes": "threshold=0.5," + "x" * 8000,
        },
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidParameter"


def test_front_door_encoded_and_chunked_bodies(server):
    encoded = requests.post(
        f"{server.url}/invocations",
        data=b"not compressed",
        headers={"Content-Type": "image/jpeg", "Content-Encoding": "deflate"},
        timeout=30,
    )
    assert encoded.status_code == 415
    assert encoded.json()["error"]["code"] == "UnsupportedContentEncoding"

    def chunks():
        for _ in range(7):
            yield b"\0" * (1 << 20)

    chunked = requests.post(
        f"{server.url}/invocations",
        data=chunks(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "PayloadTooLarge"


def test_gateway_log_lines_cannot_be_forged_and_carry_no_credentials(gateway):
    raw = (
        b"POST /endpoints/x\x1b[2J\x0bforged HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        b"X-Amz-Security-Token: " + b"T0KEN" * 2000 + b"\r\n\r\n"
    )
    raw_exchange(gateway.url, raw, gateway.cert)
    raw_exchange(
        gateway.url,
        b"POST /endpoints/a%0D%0A2026-01-01 forged/invocations HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 0\r\n\r\n",
        gateway.cert,
    )
    # both requests were logged, each on one line, their control characters escaped
    assert wait_until(
        lambda: "\\x0bforged" in gateway.log and "forged/invocations" in gateway.log, 10
    )
    log = gateway.log
    # both refused by the parser: a control character in one path, a space in the other
    (first,) = [line for line in log.splitlines() if "\\x0bforged" in line]
    assert "refused a malformed request" in first and "/endpoints/x\\x1b[2J\\x0bforged" in first
    (second,) = [line for line in log.splitlines() if "forged/invocations" in line]
    assert "refused a malformed request" in second and "a%0D%0A2026-01-01 forged" in second
    assert "\x1b" not in log and "\x0b" not in log and "T0KENT0KEN" not in log
    assert not any(line.startswith("2026-01-01 forged") for line in log.splitlines())
    assert "Traceback" not in log


def test_aborted_uploads_log_one_line_each(gateway):
    before = len(gateway.log.splitlines())
    for _ in range(5):
        conn = socket.create_connection(("127.0.0.1", int(gateway.url.rsplit(":", 1)[1])))
        tls = ssl.create_default_context(cafile=gateway.cert).wrap_socket(
            conn, server_hostname="127.0.0.1"
        )
        headers = sigv4_signer.signed_request(
            ENDPOINT, b"x" * 100000, REGION, session=session(), endpoint_url=gateway.url
        ).headers
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        tls.sendall(
            f"POST /endpoints/{ENDPOINT}/invocations HTTP/1.1\r\nHost: {gateway.url[8:]}\r\n"
            f"{head}\r\n".encode()
            + b"x" * 5000
        )
        tls.close()
    # each upload ends in one line: 5 in all, waited for, never a traceback
    assert wait_until(lambda: len(gateway.log.splitlines()) - before >= 5, 10), gateway.log
    time.sleep(0.5)  # and no more come
    new_lines = gateway.log.splitlines()[before:]
    assert "Traceback" not in "\n".join(new_lines)
    assert len(new_lines) == 5, new_lines


def listening_ports(pid):
    """TCP ports in LISTEN state held by ``pid`` and its descendants."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    pids = {process.pid for process in processes}
    return {
        conn.laddr.port
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids
    }


def test_the_model_server_listens_on_no_tcp_port(server):
    assert listening_ports(server.process.pid) == {int(server.url.rsplit(":", 1)[1])}
    (run_dir,) = [
        path for path in (server.log_path.parent).iterdir() if path.name.startswith("sm-detect-")
    ]
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert (run_dir / "management.sock").is_socket()


def planted_archive(model_dir, tmp_path):
    """The model with ``code/sitecustomize.py`` that leaves a mark when Python starts."""
    planted = tmp_path / "planted-model"
    shutil.copytree(model_dir, planted)
    marks = tmp_path / "marks"
    marks.mkdir()
    (planted / "code" / "sitecustomize.py").write_text(
        f"import os, pathlib\npathlib.Path({str(marks)!r}, str(os.getpid())).write_text('ran')\n"
    )
    archive = tmp_path / "planted.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(planted.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(planted)), recursive=False)
    return archive, marks


@pytest.mark.parametrize("setting, runs", [(None, False), ("trust", True)])
def test_archive_code_runs_only_when_trusted(model_dir, tmp_path, astronaut_jpeg, setting, runs):
    archive, marks = planted_archive(model_dir, tmp_path)
    extra = {"SM_DETECT_ARCHIVE_CODE": setting} if setting else {}
    with running_server(archive, tmp_path / "server", **QUICK_START, **extra) as server:
        answer = post_image(server, astronaut_jpeg)
        assert answer.status_code == 200
    assert bool(list(marks.iterdir())) is runs


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the model server's Unix socket, as the front door speaks to it."""

    def __init__(self, path):
        super().__init__("model-server")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def scale_workers(management_socket, workers):
    connection = UnixConnection(str(management_socket))
    connection.request("PUT", f"/models/model?min_worker={workers}&max_worker={workers}")
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_model_server_without_workers_is_restarted(model_archive, tmp_path, astronaut_jpeg):
    with running_server(
        model_archive, tmp_path / "server", SM_DETECT_RESTART_AFTER=5, **QUICK_START
    ) as server:
        (run_dir,) = [p for p in (tmp_path / "server").iterdir() if p.name.startswith("sm-detect-")]
        # MMS's own trap: scaled to none and back, its new worker connects to a stale socket
        # and stays "Failed to connect to worker" while MMS lists it READY
        for workers in (0, 1):
            assert scale_workers(run_dir / "management.sock", workers) < 300
            time.sleep(3)
        assert wait_until(lambda: not requests.get(f"{server.url}/ping", timeout=5).ok, 30)
        assert wait_until(lambda: requests.get(f"{server.url}/ping", timeout=5).ok, 120), (
            server.log[-3000:]
        )
        assert "restarting the model server" in server.log
        answer = post_image(server, astronaut_jpeg)
        assert answer.status_code == 200
