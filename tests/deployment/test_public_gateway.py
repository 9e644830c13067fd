"""The public API's local twin (`sm-detect gateway --public`) in front of a real server.

The contract of the deployed API: a key or a valid bearer token gets the server's answer
unchanged; anything else is a 403 and a caller over its rate or quota a 429, with nothing
forwarded; errors in the project's JSON shape; CORS for the listed origins.
"""

import concurrent.futures
import http.server
import io
import json
import os
import subprocess
import threading

import pytest
import requests
from PIL import Image

from tests.helpers import SM_DETECT
from tests.servers import start_gateway

pytestmark = pytest.mark.server
KEYS = ("key-for-the-web-app-0001", "key-for-the-phone-app-002")  # pragma: allowlist secret
ORIGIN = "https://app.example.com"
SECRET_ENV = "SM_DETECT_TEST_TOKEN_SECRET"  # pragma: allowlist secret
SECRET = "twin-token-secret-of-32-bytes-xxxx"  # pragma: allowlist secret


def twin(upstream_url, root, *options, env=None):
    return start_gateway(upstream_url, root, "", "", ["--public", *options], env)


@pytest.fixture(scope="module")
def counting_upstream():
    """A server that counts what reaches it, to show what the twin does not forward."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.headers.get("X-Amzn-SageMaker-Custom-Attributes"))
            body = b'{"detections": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.seen = seen
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def keyed(server, tmp_path_factory):
    options = ["--api-key", KEYS[0], "--api-key", KEYS[1], "--rate", "50", "--burst", "50"]
    running = twin(server.url, tmp_path_factory.mktemp("keyed"), *options, "--cors-origin", ORIGIN)
    yield running
    running.stop()


def detect(gateway, body, key=KEYS[0], query="", **headers):
    if key:
        headers["x-api-key"] = key
    return requests.post(
        f"{gateway.url}/prod/detect{query}",
        data=body,
        headers={"Content-Type": "image/jpeg", **headers},
        verify=gateway.cert,
        timeout=120,
    )


def test_a_key_gets_the_servers_answer_unchanged(keyed, server, astronaut_jpeg):
    through = detect(keyed, astronaut_jpeg, query="?attributes=threshold=0,max_detections=5")
    direct = requests.post(
        f"{server.url}/invocations",
        data=astronaut_jpeg,
        headers={
            "Content-Type": "image/jpeg",
            "X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=5",
        },
        timeout=120,
    )
    assert through.status_code == direct.status_code == 200
    assert through.headers["Content-Type"] == direct.headers["Content-Type"]
    assert through.json() == direct.json()  # one server, one worker: the same process
    assert len(through.json()["detections"]) == 5


def test_every_key_of_the_list_works_and_the_picture_comes_back(keyed, astronaut_jpeg):
    drawn = detect(keyed, astronaut_jpeg, key=KEYS[1], Accept="image/png")
    assert drawn.status_code == 200 and drawn.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(drawn.content)).size == (512, 512)


def test_the_containers_errors_come_back_as_they_are(keyed, astronaut_jpeg):
    refused = detect(keyed, b"plain text", **{"Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "UnsupportedContentType"
    bad = detect(keyed, astronaut_jpeg, query="?attributes=threshold=7")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidParameter"


@pytest.fixture
def counted(counting_upstream, tmp_path):
    # a rate so low that no token comes back during a test: only the burst passes; a twin of
    # each test's own, so that no test spends another's burst
    options = ["--api-key", KEYS[0], "--api-key", KEYS[1], "--rate", "0.001", "--burst", "3"]
    running = twin(counting_upstream.url, tmp_path, *options)
    yield running
    running.stop()


@pytest.mark.parametrize("key", [None, "", "not-a-key", KEYS[1][:-1], b"\xff\xfe"])
def test_no_key_or_another_key_is_a_403_and_nothing_is_forwarded(keyed, server, key):
    before = server.log.count("POST /invocations ")
    response = detect(keyed, b"image", key=key)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "Forbidden", "message": "Forbidden"}}
    assert server.log.count("POST /invocations ") == before


def test_unknown_paths_answer_as_api_gateway_does(counted):
    response = requests.get(f"{counted.url}/prod/other", verify=counted.cert, timeout=30)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MissingAuthenticationToken"


def burst(send, count=10):
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return [answer.status_code for answer in pool.map(lambda _: send(), range(count))]


def test_a_burst_over_the_rate_is_429_never_5xx(counted, counting_upstream):
    before = len(counting_upstream.seen)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: detect(counted, b"image"), range(10)))
    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [200] * 3 + [429] * 7  # the burst, then nothing
    assert len(counting_upstream.seen) - before == 3
    throttled = next(answer for answer in answers if answer.status_code == 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"] == {"code": "TooManyRequests", "message": "Too Many Requests"}
    # the other key has its own bucket, as a usage plan counts each key
    assert burst(lambda: detect(counted, b"image", key=KEYS[1]), 3) == [200] * 3


def test_the_daily_quota_is_a_429(counting_upstream, tmp_path):
    options = ["--api-key", KEYS[0], "--rate", "100", "--burst", "100", "--quota", "6"]
    running = twin(counting_upstream.url, tmp_path, *options)
    try:
        statuses = [detect(running, b"image") for _ in range(8)]
    finally:
        running.stop()
    assert [answer.status_code for answer in statuses] == [200] * 6 + [429] * 2
    assert "Limit Exceeded" in statuses[-1].text
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_each_request_is_one_log_line_naming_the_caller_by_the_end_of_its_key(counted):
    detect(counted, b"image", key=KEYS[1][:-1])
    lines = [line for line in counted.log.splitlines() if "POST /prod/detect 403" in line]
    assert lines and all("caller=-" in line for line in lines)
    detect(counted, b"image", key=KEYS[1])
    (line,) = [ln for ln in counted.log.splitlines() if f"caller=key...{KEYS[1][-4:]}" in ln][-1:]
    assert "latency_ms=" in line and KEYS[1] not in counted.log  # never the whole key


@pytest.mark.parametrize(
    "attributes", ["threshold=0.5%0d%0aX-Evil:1", "classes=a%0ab", "classes=a%00b", "x" * 1100]
)
def test_attributes_that_cannot_be_a_header_are_a_400_unforwarded(keyed, server, attributes):
    before = server.log.count("POST /invocations ")
    answer = detect(keyed, b"image", query=f"?attributes={attributes}")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "InvalidParameter"
    assert server.log.count("POST /invocations ") == before


@pytest.mark.parametrize(
    "options, message",
    [
        (["--api-key", ""], "at least 20"),
        (["--api-key", "short-key"], "at least 20"),
        (["--api-key", KEYS[0], "--api-key", "x" * 19], "at least 20"),
        (["--token-secret-env", "SHORT_SECRET"], "at least 32 bytes"),
    ],
)
def test_empty_or_short_keys_and_secrets_stop_the_twin_at_start(options, message):
    result = subprocess.run(
        [SM_DETECT, "gateway", "--public", "--port", "0", *options],
        capture_output=True,
        text=True,
        env=dict(os.environ, SHORT_SECRET="abc"),  # pragma: allowlist secret
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("sm-detect gateway: ") and message in line
    assert "listening on" not in result.stdout + result.stderr


def test_cors_preflight_and_headers(keyed, astronaut_jpeg):
    preflight = requests.options(
        f"{keyed.url}/prod/detect",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        verify=keyed.cert,
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"]
    answer = detect(keyed, astronaut_jpeg, Origin=ORIGIN)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    stranger = requests.options(
        f"{keyed.url}/prod/detect",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        verify=keyed.cert,
        timeout=30,
    )
    assert stranger.status_code == 403 and "Access-Control-Allow-Origin" not in stranger.headers


@pytest.fixture(scope="module")
def tokened(server, tmp_path_factory):
    env = dict(os.environ, **{SECRET_ENV: SECRET})
    options = ["--token-secret-env", SECRET_ENV, "--rate", "50", "--burst", "50", "--stage", "v1"]
    running = twin(server.url, tmp_path_factory.mktemp("tokened"), *options, env=env)
    yield running
    running.stop()


def mint(*options):
    result = subprocess.run(
        [SM_DETECT, "token", "--secret-env", SECRET_ENV, *options],
        capture_output=True,
        text=True,
        env=dict(os.environ, **{SECRET_ENV: SECRET}),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--secret-env", "SHORT"], "at least 32 bytes"),
        (["--secret-env", SECRET_ENV, "--ttl", "99999999999999999999"], "from 1 to 2592000"),
        (["--secret-env", SECRET_ENV, "--ttl", "0"], "from 1 to 2592000"),
    ],
)
def test_token_refuses_short_secrets_and_endless_lives(options, message):
    result = subprocess.run(
        [SM_DETECT, "token", "--subject", "app", *options],
        capture_output=True,
        text=True,
        env=dict(os.environ, SHORT="abc", **{SECRET_ENV: SECRET}),
        timeout=60,
    )
    assert result.returncode in (1, 2) and not result.stdout  # no token printed
    assert message in result.stderr


def bearer(gateway, body, authorization):
    headers = {"Content-Type": "image/jpeg"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(
        f"{gateway.url}/v1/detect", data=body, headers=headers, verify=gateway.cert, timeout=120
    )


def test_a_minted_token_gets_in(tokened, astronaut_jpeg):
    answer = bearer(tokened, astronaut_jpeg, f"Bearer {mint('--subject', 'web-app')}")
    assert answer.status_code == 200 and answer.json()["image"]["width"] == 512


def test_one_subjects_burst_leaves_the_others_their_share(counting_upstream, tmp_path):
    env = dict(os.environ, **{SECRET_ENV: SECRET})
    options = ["--token-secret-env", SECRET_ENV, "--rate", "0.001", "--burst", "3"]
    running = twin(counting_upstream.url, tmp_path, *options, "--stage", "v1", env=env)
    try:
        greedy, polite = mint("--subject", "greedy-app"), mint("--subject", "polite-app")
        assert sorted(burst(lambda: bearer(running, b"image", f"Bearer {greedy}"), 14)) == (
            [200] * 3 + [429] * 11
        )
        assert burst(lambda: bearer(running, b"image", f"Bearer {polite}"), 3) == [200] * 3
    finally:
        running.stop()


def test_refused_tokens(tokened, astronaut_jpeg):
    import time

    expired = mint("--subject", "web-app", "--ttl", "1")
    good = mint("--subject", "web-app")
    header, _, signature = good.split(".")
    other = mint("--subject", "admin").split(".")[1]
    time.sleep(2)
    for authorization, code in (
        (None, "Unauthorized"),
        ("", "Unauthorized"),
        (f"Bearer {expired}", "AccessDenied"),
        (f"Bearer {header}.{other}.{signature}", "AccessDenied"),
        (f"Bearer {good[:-4]}AAAA", "AccessDenied"),
        (f"Basic {good}", "AccessDenied"),
        ("Bearer not-a-token", "AccessDenied"),
        (b"Bearer \xff\xfe", "AccessDenied"),
    ):
        answer = bearer(tokened, astronaut_jpeg, authorization)
        assert answer.status_code == 403, authorization
        assert answer.json()["error"]["code"] == code, authorization
    assert (
        json.loads(bearer(tokened, astronaut_jpeg, f"Bearer {good}").text)["detections"] is not None
    )
