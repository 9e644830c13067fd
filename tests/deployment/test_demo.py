"""The demo page, driven in a real headless Chromium (Debian's) by Playwright, as a person uses it.

The page is served by ``sm-detect demo`` in front of the real server; what it shows is compared
with what the server answers for the same image and settings.
"""

import functools
import http.server
import io
import os
import re
import shutil
import socket
import threading

import numpy as np
import pytest
import requests
from PIL import Image

from inference.headers import CUSTOM_ATTRIBUTES
from tests.helpers import REPO, SM_DETECT, encode_image
from tests.servers import Server, post_image, start_gateway, wait_until

pytestmark = pytest.mark.server
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# as the machine's own probe starts it: no sandbox as root, nothing reaching the network
CHROMIUM_ARGS = [
    # another website, served on loopback: attacker.example:PORT is 127.0.0.1:PORT
    "--host-resolver-rules=MAP attacker.example 127.0.0.1",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#0082c8", "#f58231", "#911eb4", "#46f0f0"]
PALETTE += ["#f032e6", "#d2f53c", "#008080"]
SCREENSHOT = os.path.join(REPO, "build", "demo.png")


def start_demo(root, *target, env=None):
    command = [SM_DETECT, "demo", *target, "--port", "0"]
    demo = Server(command, env or dict(os.environ), root / "demo.log")
    demo.wait_for_announcement(60)
    demo.wait_ready(lambda: requests.get(f"{demo.url}/api/info", timeout=5).ok, 60)
    return demo


@pytest.fixture(scope="module")
def demo(server, tmp_path_factory):
    running = start_demo(tmp_path_factory.mktemp("demo"), "--url", server.url)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, photos):
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    path.write_bytes(encode_image(photos["astronaut"], "JPEG", quality=92))
    return path


def served(server, body, **attributes):
    header = ",".join(f"{key}={value}" for key, value in attributes.items())
    response = post_image(server, body, timeout=120, **{CUSTOM_ATTRIBUTES: header})
    assert response.status_code == 200
    return response.json()["detections"]


def shown(page):
    """(label, score) of each detection element the page shows, in its order."""
    items = page.locator('[data-testid="detection"]')
    return [
        (items.nth(i).get_attribute("data-label"), float(items.nth(i).get_attribute("data-score")))
        for i in range(items.count())
    ]


def wait_for_answer(page):
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.includes('detection(s)')"
        " || !document.querySelector('[data-testid=error]').hidden",
        timeout=120_000,
    )


def test_a_photo_shows_the_servers_detections_drawn_over_it(demo, server, page, photo_file):
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(f"{demo.url}/?threshold=0.3")
    page.set_input_files('[data-testid="file"]', str(photo_file))
    wait_for_answer(page)
    # the server's own histogram, as its /metrics says it now (the photo's request included)
    page.wait_for_selector('[data-testid="latency-chart"]:not([hidden])', timeout=30_000)
    scraped = requests.get(f"{server.url}/metrics", timeout=10).text
    (count,) = re.findall(r"^sm_detect_request_seconds_count\{[^}]*\} (\S+)$", scraped, re.M)
    bars = page.locator('[data-testid="latency-bar"]')
    drawn = [float(bars.nth(i).get_attribute("data-requests")) for i in range(bars.count())]
    assert sum(drawn) == float(count) >= 1
    summary = page.locator('[data-testid="latency-summary"]').text_content()
    assert f"{float(count):.0f} request(s)" in summary
    expected = served(server, photo_file.read_bytes(), threshold=0.3)
    assert expected, "the test model finds something at 0.3 in this photo"
    assert shown(page) == [(d["label"], d["score"]) for d in expected]
    assert "ms" in page.locator('[data-testid="latency"]').text_content()
    assert all(url.startswith(demo.url) or url.startswith("blob:") for url in fetched), fetched

    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    figure = page.locator('[data-testid="picture"]')
    with_boxes = np.asarray(Image.open(io.BytesIO(figure.screenshot())).convert("RGB"), int)
    page.evaluate("document.querySelector('[data-testid=boxes]').style.visibility = 'hidden'")
    photo_only = np.asarray(Image.open(io.BytesIO(figure.screenshot())).convert("RGB"), int)
    changed = np.abs(with_boxes - photo_only).max(axis=2) > 40
    assert changed.mean() > 0.001  # the boxes and labels, drawn over the photo
    # the best box is drawn last, on top of any it overlaps, in its class's colour
    best = expected[0]
    last_caption = page.locator('[data-testid="boxes"] text').last.text_content()
    assert last_caption == f"{best['label']} {best['score']:.2f}"
    colour = PALETTE[best["class_id"] % len(PALETTE)]
    wanted = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    in_colour = np.abs(with_boxes - wanted).max(axis=2) <= 30
    assert (in_colour & changed).sum() >= 50, best["label"]


def test_moving_the_threshold_shows_fewer_detections(demo, server, page, photo_file):
    page.goto(f"{demo.url}/?threshold=0")
    page.set_input_files('[data-testid="file"]', str(photo_file))
    wait_for_answer(page)
    before = shown(page)
    scores = [score for _, score in before]
    cut = f"{(scores[0] + scores[-1]) / 2:.2f}"  # the slider moves in steps of 0.01
    page.locator('[data-testid="threshold"]').fill(cut)
    after = shown(page)
    expected = served(server, photo_file.read_bytes(), threshold=cut)
    assert after == [(d["label"], d["score"]) for d in expected]
    assert 0 < len(after) < len(before)
    assert f"threshold={cut}" in page.url  # the view can be shared as a link


def test_settings_come_from_the_link(demo, server, page, photo_file):
    page.goto(f"{demo.url}/?threshold=0.1&mode=square416")
    assert page.locator('[data-testid="mode"]').input_value() == "square416"
    assert page.locator('[data-testid="threshold"]').input_value() == "0.1"
    page.set_input_files('[data-testid="file"]', str(photo_file))
    wait_for_answer(page)
    expected = served(server, photo_file.read_bytes(), threshold=0.1, mode="square416")
    assert shown(page) == [(d["label"], d["score"]) for d in expected]


def test_a_text_file_is_a_readable_error(demo, page, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    page.goto(demo.url)
    page.set_input_files('[data-testid="file"]', str(text))
    error = page.locator('[data-testid="error"]')
    error.wait_for(state="visible", timeout=60_000)
    assert "UnsupportedContentType" in error.text_content()
    assert page.locator('[data-testid="detection"]').count() == 0


def test_a_photo_over_the_limit_is_refused_before_it_is_sent_on(demo, page, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(7 * 1024 * 1024))
    page.goto(demo.url)
    page.set_input_files('[data-testid="file"]', str(big))
    error = page.locator('[data-testid="error"]')
    error.wait_for(state="visible", timeout=60_000)
    assert "PayloadTooLarge" in error.text_content()


def test_a_server_that_is_down_is_a_readable_error(browser, photo_file, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the probe is gone
    demo = start_demo(tmp_path, "--url", f"http://127.0.0.1:{closed}")
    try:
        page = browser.new_page()
        page.goto(demo.url)
        page.set_input_files('[data-testid="file"]', str(photo_file))
        error = page.locator('[data-testid="error"]')
        error.wait_for(state="visible", timeout=60_000)
        assert "DetectorUnavailable" in error.text_content()
        page.close()
    finally:
        demo.stop()


def test_an_endpoint_is_called_signed_by_the_demo_server(server, astronaut_jpeg, tmp_path):
    key, secret = "AKIDDEMOTESTKEY00001", "demo-test-secret"  # pragma: allowlist secret
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    (tmp_path / "twin").mkdir()
    twin = start_gateway(server.url, tmp_path / "twin", "yolo-demo", "us-east-1", [], env=env)
    demo = start_demo(
        tmp_path,
        "--endpoint",
        "yolo-demo",
        "--region",
        "us-east-1",
        "--endpoint-url",
        twin.url,
        "--ca-bundle",
        twin.cert,
        env=env,
    )
    try:
        answer = requests.post(
            f"{demo.url}/api/detect?threshold=0.1",
            data=astronaut_jpeg,
            headers={"Content-Type": "image/jpeg"},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["detections"] == served(server, astronaut_jpeg, threshold=0.1)
        assert " forwarded " in twin.log  # signed, checked and sent on by the twin
        refused = requests.post(
            f"{demo.url}/api/detect", data=b"x", headers={"Content-Type": "text/plain"}, timeout=60
        )
        assert refused.status_code == 415
        assert refused.json()["error"]["code"] == "UnsupportedContentType"
    finally:
        demo.stop()
        twin.stop()


def invocations_logged(server):
    return server.log.count("POST /invocations ")


@pytest.fixture
def attacker_site(tmp_path):
    """A page on another site (attacker.example, which the browser resolves to 127.0.0.1)."""
    (tmp_path / "index.html").write_text("<!doctype html><title>any website</title>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://attacker.example:{site.server_address[1]}"
    site.shutdown()


def test_another_website_cannot_make_the_demo_detect(
    browser, demo, server, attacker_site, photo_file
):
    context = browser.new_context()
    page = context.new_page()
    page.goto(attacker_site + "/")
    before = invocations_logged(server)
    refused_before = demo.log.count("POST /api/detect 403 ForbiddenOrigin")
    preflights_before = demo.log.count("OPTIONS /api/detect 403 ForbiddenOrigin")
    # no-cors POSTs: the page cannot read the answer, but the request is sent all the same,
    # with its Origin; then a CORS POST of image/jpeg, which Chromium first asks about with a
    # preflight. The origin guard refuses all four, logging each (without it, the POSTs would
    # meet the type check's 415, and the preflight a 405)
    sent = page.evaluate(
        """async ([url, bytes]) => {
            const body = new Uint8Array(bytes);
            for (const type of [undefined, "text/plain", "image/jpeg"]) {
              const options = {method: "POST", mode: "no-cors", body};
              if (type) { options.headers = {"Content-Type": type}; }
              try { await fetch(url, options); } catch (error) { return String(error); }
            }
            try {
              await fetch(url, {method: "POST", body, headers: {"Content-Type": "image/jpeg"}});
              return "the cross-site request was answered";
            } catch (error) {
              return "sent";
            }
        }""",
        [f"{demo.url}/api/detect?threshold=0", list(photo_file.read_bytes()[:200_000])],
    )
    context.close()
    assert sent == "sent"
    assert wait_until(
        lambda: demo.log.count("OPTIONS /api/detect 403 ForbiddenOrigin") == preflights_before + 1,
        10,
    ), demo.log[-2000:]
    assert demo.log.count("POST /api/detect 403 ForbiddenOrigin") == refused_before + 3
    assert invocations_logged(server) == before  # nothing reached the detector


@pytest.mark.parametrize("path", ["/", "/api/info"])
def test_a_rebound_name_gets_nothing(demo, path):
    port = demo.url.rsplit(":", 1)[1]
    answer = requests.get(demo.url + path, headers={"Host": f"attacker.example:{port}"}, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "ForbiddenHost"
    assert requests.get(demo.url + path, timeout=10).status_code == 200  # its own address still


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_requests_from_other_origins_are_refused_unforwarded(demo, server, astronaut_jpeg, headers):
    before = invocations_logged(server)
    answer = requests.post(
        f"{demo.url}/api/detect",
        data=astronaut_jpeg,
        headers={"Content-Type": "image/jpeg", **headers},
        timeout=60,
    )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "ForbiddenOrigin"
    assert invocations_logged(server) == before


@pytest.mark.parametrize(
    "query, content_type, status, code",
    [
        ("", None, 415, "UnsupportedContentType"),
        ("", "text/plain", 415, "UnsupportedContentType"),
        ("", "application/x-www-form-urlencoded", 415, "UnsupportedContentType"),
        ("?treshold=0", "image/jpeg", 400, "InvalidParameter"),
        ("?threshold=7", "image/jpeg", 400, "InvalidParameter"),
        ("?classes=a%0d%0aX-Evil:1", "image/jpeg", 400, "InvalidParameter"),
        ("?classes=a%00b", "image/jpeg", 400, "InvalidParameter"),
    ],
)
def test_bad_requests_are_refused_before_they_are_forwarded(
    demo, server, astronaut_jpeg, query, content_type, status, code
):
    before = invocations_logged(server)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(
        f"{demo.url}/api/detect{query}", data=astronaut_jpeg, headers=headers, timeout=60
    )
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert invocations_logged(server) == before


def test_a_wrong_method_is_a_json_405(demo):
    answer = requests.get(f"{demo.url}/api/detect", timeout=10)
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "MethodNotAllowed"


def test_an_error_clears_the_previous_answers_time(demo, page, photo_file, tmp_path):
    page.goto(demo.url)
    page.set_input_files('[data-testid="file"]', str(photo_file))
    wait_for_answer(page)
    assert "ms" in page.locator('[data-testid="latency"]').text_content()
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    page.set_input_files('[data-testid="file"]', str(text))
    page.locator('[data-testid="error"]').wait_for(state="visible", timeout=60_000)
    assert page.locator('[data-testid="latency"]').text_content() == ""
