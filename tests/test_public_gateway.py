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


@pytest.fixture(scope="module")
def counted(counting_upstream, tmp_path_factory):
    options = ["--api-key", KEYS[0], "--rate", "2", "--burst", "3", "--quota", "6"]
    running = twin(counting_upstream.url, tmp_path_factory.mktemp("counted"), *options)
    yield running
    running.stop()


@pytest.mark.parametrize("key", [None, "", "not-a-key", KEYS[1]])
def test_no_key_or_another_key_is_a_403_and_nothing_is_forwarded(counted, counting_upstream, key):
    before = len(counting_upstream.seen)
    response = detect(counted, b"image", key=key)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "Forbidden", "message": "Forbidden"}}
    assert len(counting_upstream.seen) == before


def test_unknown_paths_answer_as_api_gateway_does(counted):
    response = requests.get(f"{counted.url}/prod/other", verify=counted.cert, timeout=30)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MissingAuthenticationToken"


def test_a_burst_over_the_rate_is_429_never_5xx(counted, counting_upstream):
    before = len(counting_upstream.seen)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: detect(counted, b"image"), range(10)))
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {200, 429}, statuses
    assert statuses.count(200) <= 3  # the burst
    assert len(counting_upstream.seen) - before == statuses.count(200)
    throttled = next(answer for answer in answers if answer.status_code == 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"] == {"code": "TooManyRequests", "message": "Too Many Requests"}


def test_the_daily_quota_is_a_429(counted, counting_upstream):
    import time

    answers = []
    for _ in range(8):  # the quota is 6 a day; the rate (2/s) is kept by waiting
        time.sleep(0.6)
        answers.append(detect(counted, b"image"))
    over = [a for a in answers if a.status_code == 429 and "Limit Exceeded" in a.text]
    assert over, [a.status_code for a in answers]
    assert all(a.status_code in (200, 429) for a in answers)


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
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


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
    ):
        answer = bearer(tokened, astronaut_jpeg, authorization)
        assert answer.status_code == 403, authorization
        assert answer.json()["error"]["code"] == code, authorization
    assert (
        json.loads(bearer(tokened, astronaut_jpeg, f"Bearer {good}").text)["detections"] is not None
    )
