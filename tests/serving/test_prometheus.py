"""/metrics scraped by a real Prometheus (Debian's), the probes Kubernetes asks, and what is
served at /info: counted and timed by the test itself, then read back through Prometheus' API."""

import concurrent.futures
import itertools
import os
import random
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from container.door.prometheus import SECONDS_BUCKETS
from inference.headers import CUSTOM_ATTRIBUTES, TARGET_MODEL
from tests.servers import (
    BIN_DIR,
    QUICK_START,
    Server,
    running_server,
    server_env,
    start_on_free_port,
    wait_until,
)

GOOD, BAD = 17, 3


@pytest.fixture(scope="module")
def served(tmp_path_factory, model_archive):
    with running_server(model_archive, tmp_path_factory.mktemp("scraped"), **QUICK_START) as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, served):
    """Prometheus scraping the server's /metrics every second."""
    folder = tmp_path_factory.mktemp("prometheus")
    target = served.url.removeprefix("http://")
    (folder / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: sm-detect\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )

    def start(port):
        return Server(
            [
                "prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            dict(os.environ),
            folder / "prometheus.log",
            port=port,
        )

    server = start_on_free_port(
        start, lambda server: requests.get(f"{server.url}/-/ready", timeout=5).ok, 60
    )
    yield server
    server.stop()


def query(prometheus, expression):
    answer = requests.get(
        f"{prometheus.url}/api/v1/query", params={"query": expression}, timeout=10
    ).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def bucket_of(seconds):
    """The histogram bucket (lower, upper] holding ``seconds``."""
    bounds = (0.0, *SECONDS_BUCKETS, float("inf"))
    for lower, upper in itertools.pairwise(bounds):
        if lower < seconds <= upper:
            return lower, upper
    raise AssertionError(seconds)


def test_prometheus_reads_the_requests_and_latency_the_test_sent(
    served, prometheus, astronaut_jpeg
):
    bodies = [astronaut_jpeg] * GOOD + [b"not an image"] * BAD
    random.Random(7).shuffle(bodies)
    timings = []
    for body in bodies:
        started = time.perf_counter()
        answer = requests.post(
            f"{served.url}/invocations",
            data=body,
            headers={"Content-Type": "image/jpeg", CUSTOM_ATTRIBUTES: "mode=square320"},
            timeout=120,
        )
        if answer.status_code == 200:
            timings.append(time.perf_counter() - started)
    assert len(timings) == GOOD
    total = "sum(sm_detect_requests_total)"
    assert wait_until(
        lambda: (found := query(prometheus, total)) and float(found[0]["value"][1]) == GOOD + BAD,
        30,
    ), query(prometheus, total)
    by_code = {
        row["metric"]["code"]: float(row["value"][1])
        for row in query(prometheus, "sum by (code) (sm_detect_requests_total)")
    }
    assert by_code == {"200": GOOD, "400": BAD}
    median = query(
        prometheus, "histogram_quantile(0.5, sum by (le) (sm_detect_request_seconds_bucket))"
    )
    measured = float(median[0]["value"][1])
    # all twenty are in the histogram, the three refusals in its lowest buckets: its median, the
    # tenth, is the seventh good request, which the test timed with its HTTP round trip on top:
    # the server's figure is in that bucket, or the one below when the trip crossed a bound
    timed = sorted(timings)[(GOOD + BAD) // 2 - BAD - 1]
    lower, upper = bucket_of(timed)
    below, _ = bucket_of(lower) if lower > 0 else (0.0, lower)
    assert below <= measured <= upper, (measured, timed)


def scrape(server):
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_the_info_route_and_metric_say_what_is_served(served):
    info = requests.get(f"{served.url}/info", timeout=10).json()
    assert info["precision"] == "fp32" and len(info["classes"]) == 80
    assert info["mode"] == "square320" and info["canvases"] == ["320x320"]
    assert info["workers"] == 1 and info["isa"]
    (sample,) = scrape(served)["sm_detect_model_info"].samples
    assert sample.labels["model"] == info["model"]
    assert (sample.labels["precision"], sample.labels["isa"]) == ("fp32", info["isa"])


def test_a_killed_worker_is_a_restart_and_readiness_drops_then_returns(served):
    assert requests.get(f"{served.url}/readyz", timeout=10).status_code == 200
    (memory,) = [
        sample
        for sample in scrape(served)["sm_detect_worker_resident_bytes"].samples
        if sample.value > 0
    ]
    assert memory.value > 100 << 20  # a worker holding YOLOv3
    restarts = scrape(served)["sm_detect_worker_restarts"].samples[0].value
    os.kill(int(memory.labels["pid"]), signal.SIGKILL)
    assert wait_until(
        lambda: requests.get(f"{served.url}/readyz", timeout=10).status_code == 503, 10, 0.05
    )
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    assert wait_until(
        lambda: requests.get(f"{served.url}/readyz", timeout=10).status_code == 200, 120
    )
    assert scrape(served)["sm_detect_worker_restarts"].samples[0].value == restarts + 1


def gauges(server):
    families = scrape(server)
    return tuple(
        families[name].samples[0].value
        for name in ("sm_detect_requests_in_flight", "sm_detect_requests_queued")
    )


def test_requests_waiting_for_the_one_worker_are_counted_as_queued(
    tmp_path, model_archive, astronaut_jpeg
):
    # a server of its own: the scraped one's counts are the Prometheus test's
    one_worker = {**QUICK_START, "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with running_server(model_archive, tmp_path, **one_worker) as server:
        seen = burst_of_eight(server, astronaut_jpeg)
        assert gauges(server) == (0, 0)
    busy = [(in_flight, queued) for in_flight, queued in seen if in_flight >= 3]
    assert busy, seen
    # one worker answers one of them (or has just finished one and not yet begun the next)
    assert all(in_flight - 1 <= queued <= in_flight for in_flight, queued in busy), busy


def burst_of_eight(server, image):
    """Eight requests at once; the (in flight, queued) gauges scraped until all are answered."""

    def invoke():
        return requests.post(
            f"{server.url}/invocations",
            data=image,
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(invoke) for _ in range(8)]
        seen = []
        while not all(answer.done() for answer in answers):
            seen.append(gauges(server))
    assert [answer.result() for answer in answers] == [200] * 8
    return seen


def test_metrics_can_be_turned_off(tmp_path, model_archive):
    with running_server(
        model_archive, tmp_path, SM_DETECT_PROMETHEUS="off", **QUICK_START
    ) as server:
        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 404
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_random_target_models_leave_the_series_bounded(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    command = [
        os.path.join(BIN_DIR, "sm-detect"),
        "serve",
        "--multi-model",
        "--models-dir",
        str(root),
    ]
    command += ["--port", "0", "--base-dir", str(tmp_path / "base")]
    server = Server(command, server_env(tmp_path, **QUICK_START), tmp_path / "server.log")
    try:
        server.wait_for_announcement(180)
        with requests.Session() as session:
            for number in range(10_000):
                name = f"m{random.getrandbits(64):x}-{number}"
                answer = session.post(
                    f"{server.url}/models/{name}/invoke",
                    data=b"x",
                    headers={"Content-Type": "image/jpeg", TARGET_MODEL: name},
                    timeout=30,
                )
                assert answer.status_code == 404
        families = scrape(server)
        requests_family = families["sm_detect_requests"]
        models = {sample.labels["model"] for sample in requests_family.samples}
        assert models == {"unknown"}
        assert (
            sum(
                sample.value
                for sample in requests_family.samples
                if sample.name == "sm_detect_requests_total"
            )
            == 10_000
        )
        series = sum(len(family.samples) for family in families.values())
        assert series < 200
    finally:
        server.stop()
