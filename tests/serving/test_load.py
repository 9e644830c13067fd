"""Load and faults with a real load generator (wrk) and real process kills.

Figures are printed (run with -s), not asserted as speed: what is asserted is that nothing is
lost or hangs where nothing may be.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np
import psutil
import pytest
import requests

from tests.helpers import REPO, encode_image
from tests.servers import QUICK_START, pinged, running_server, wait_until

pytestmark = pytest.mark.server
LUA = os.path.join(REPO, "tests", "load.lua")


@pytest.fixture(scope="module")
def small_jpeg(tmp_path_factory):
    path = tmp_path_factory.mktemp("load") / "small.jpg"
    rng = np.random.default_rng(7)
    path.write_bytes(encode_image(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), "JPEG"))
    return path


def wrk(url, body_path, connections, seconds, timeout_seconds=60):
    """Run wrk; returns {status: count}, timeouts, socket errors, p99 ms."""
    env = dict(os.environ, WRK_BODY=str(body_path))
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(connections, 4)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            f"{timeout_seconds}s",
            "-s",
            LUA,
            f"{url}/invocations",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + timeout_seconds + 30,
    )
    assert result.returncode == 0, result.stderr
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", result.stdout, re.M)}
    figure = {
        key: int(value)
        for key, value in re.findall(r"^(\w+) (\d+)$", result.stdout, re.M)
        if key != "status"
    }
    return statuses, figure


def worker_processes(server):
    marker = str(server.log_path.parent)
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "model_service_worker.py" in " ".join(p.info["cmdline"] or [])
        and marker in " ".join(p.info["cmdline"] or [])
    ]


def rss_mb(processes):
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 1e6


def test_sustained_load_at_concurrency_8(server, small_jpeg):
    workers = worker_processes(server)
    before = rss_mb(workers)
    statuses, figures = wrk(server.url, small_jpeg, connections=8, seconds=30)
    after = rss_mb(workers)
    answered = sum(statuses.values())
    print(
        f"\nwrk c=8 30 s: {answered} requests, statuses {statuses}, {figures}, worker RSS "
        f"{before:.0f} -> {after:.0f} MB ({(after - before) / max(answered, 1):.3f} MB/request)"
    )
    assert answered >= 8  # every connection was answered at least once, on average
    assert set(statuses) == {200}, statuses
    # wrk's "timeouts" is not asserted: it counts connections whose current request began more
    # than --timeout ago, which a 30 s run cannot reach, and connections caught between two
    # requests (seen once: 8 of 8 while every answer was a 200). A hang shows below instead.
    assert figures["socket_errors"] == 0
    assert pinged(server.url)
    assert requests.post(
        f"{server.url}/invocations",
        data=small_jpeg.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    ).ok


def test_beyond_the_queue_is_a_clean_503(model_archive, small_jpeg, tmp_path):
    # a short model-server queue, so that 16 connections overflow it (one canvas to warm)
    with running_server(
        model_archive, tmp_path / "server", MMS_JOB_QUEUE_SIZE=2, **QUICK_START
    ) as server:
        statuses, figures = wrk(server.url, small_jpeg, connections=16, seconds=10)
        print(f"\nwrk c=16 over a queue of 2: statuses {statuses}, {figures}")
        assert statuses.get(503, 0) > 0 and statuses.get(200, 0) > 0
        assert set(statuses) <= {200, 503}
        assert figures["timeouts"] == 0
        overflow = requests.post(
            f"{server.url}/invocations",
            data=small_jpeg.read_bytes(),
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
        assert overflow.status_code in (200, 503)
        assert pinged(server.url)


class Client(threading.Thread):
    """Sends requests back to back until stopped; records (status or exception name)."""

    def __init__(self, url, body):
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.results = []
        self.timed = []  # (start time, result)
        self.stopping = threading.Event()

    @classmethod
    def start_several(cls, url, body, count):
        clients = [cls(url, body) for _ in range(count)]
        for client in clients:
            client.start()
        return clients

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                response = requests.post(
                    f"{self.url}/invocations",
                    data=self.body,
                    headers={"Content-Type": "image/jpeg"},
                    timeout=90,
                )
                self.results.append(response.status_code)
            except requests.RequestException as error:
                self.results.append(type(error).__name__)
            self.timed.append((started, self.results[-1]))


def test_a_killed_worker_is_replaced_and_its_request_retried(model_archive, small_jpeg, tmp_path):
    with running_server(
        model_archive, tmp_path / "server", SM_DETECT_LOG_FORMAT="json", **QUICK_START
    ) as server:
        clients = Client.start_several(server.url, small_jpeg.read_bytes(), 3)
        ready = list((tmp_path / "server").glob("sm-detect-*/ready/*"))
        (victim,) = [int(path.name) for path in ready if path.name.isdigit()]
        # killed in the middle of a forward pass (its cores busy), so that one request is in
        # flight in it, not between two requests
        worker = psutil.Process(victim)
        assert wait_until(lambda: worker.cpu_percent(interval=0.1) > 100, 30, interval=0)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_until(lambda: not pinged(server.url), 10, interval=0.1)  # noticed
        assert wait_until(lambda: pinged(server.url), 120), server.log[-3000:]
        recovered_after = time.monotonic() - killed_at
        time.sleep(3)
        for client in clients:
            client.stopping.set()
        for client in clients:
            client.join(timeout=120)
        results = [result for client in clients for result in client.results]
        lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
        requests_logged = [line for line in lines if line.get("logger") == "sm-detect.request"]
        retried = [line for line in requests_logged if line["retried"]]
        warned = [line for line in lines if line.get("retry")]
        print(
            f"\nkilled worker {victim}: {len(results)} requests, statuses "
            f"{sorted(set(map(str, results)))}, {len(retried)} retried, /ping healthy again "
            f"after {recovered_after:.1f} s"
        )
        assert results and all(result == 200 for result in results)  # none lost
        assert len(retried) == 1 and retried[0]["status"] == 200  # the one the worker held
        assert [line["inference_id"] for line in warned] == [retried[0]["inference_id"]]
        assert all(client.results[-1] == 200 for client in clients)  # serving again


def test_sigterm_under_load_finishes_requests_in_flight(model_archive, small_jpeg, tmp_path):
    with running_server(model_archive, tmp_path / "server", **QUICK_START) as server:
        clients = Client.start_several(server.url, small_jpeg.read_bytes(), 3)
        time.sleep(4)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=30)
        stopped_after = time.monotonic() - signalled
        for client in clients:
            client.stopping.set()
            client.join(timeout=120)
        timed = [entry for client in clients for entry in client.timed]
        before = [result for started, result in timed if started < signalled]
        after = [result for started, result in timed if started >= signalled]
        print(
            f"\nSIGTERM under load: exit {code} after {stopped_after:.1f} s; requests started "
            f"before it: {len(before)} ({sorted(set(map(str, before)))}), after: {len(after)} "
            f"({sorted(set(map(str, after)))})"
        )
        assert code == 0  # the wait above raises if it outlives SageMaker's 30 s
        assert before and all(result == 200 for result in before)  # in flight: all answered
        assert all(result == 503 or isinstance(result, str) for result in after)


def test_a_warm_up_past_a_requests_limit_ends_ready_and_a_request_past_it_stops_its_worker(
    model_archive, photos, tmp_path
):
    # a request may take 2 s here, while warming the 13 canvases takes longer: the model
    # server's limit is the load's own (before, MMS gave up on the worker and started another,
    # over and over, and the server never became ready)
    limit = 2
    root = tmp_path / "server"
    with running_server(model_archive, root, SAGEMAKER_MODEL_SERVER_TIMEOUT=str(limit)) as server:
        warmed = [float(s) for s in re.findall(r"warmed in ([\d.]+) s", server.log)]
        assert warmed and warmed[0] > limit, server.log[-2000:]
        assert "Worker died" not in server.log and "did not respond" not in server.log

        # a request held past the limit in its worker (stopped mid-request, as a hung forward
        # pass would be): a 504 at the limit, its worker stopped and replaced
        big = encode_image(np.tile(photos["astronaut"], (8, 8, 1)), "PNG")  # 4096x4096
        (worker,) = [int(p.name) for p in root.glob("sm-detect-*/ready/*") if p.name.isdigit()]
        answering = next(root.glob("sm-detect-*/ready")) / f"{worker}.request"
        held = {}

        def send():
            held["answer"] = requests.post(
                f"{server.url}/invocations",
                data=big,
                headers={"Content-Type": "image/png", "X-Amzn-SageMaker-Inference-Id": "held"},
                timeout=60,
            )

        sender = threading.Thread(target=send)
        sender.start()
        assert wait_until(lambda: answering.exists() and answering.read_text() == "held", 30, 0.005)
        os.kill(worker, signal.SIGSTOP)
        sender.join(60)
        answer = held["answer"]
        assert answer.status_code == 504 and answer.json()["error"]["code"] == "ModelTimeout"
        assert wait_until(
            lambda: (
                not psutil.pid_exists(worker)
                or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
            ),
            10,
        )
        assert "stopping its worker" in server.log
        assert wait_until(lambda: pinged(server.url), 120), server.log[-3000:]
        small = encode_image(photos["coffee"][::4, ::4], "JPEG")
        again = requests.post(
            f"{server.url}/invocations",
            data=small,
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
        assert again.status_code == 200, again.text
