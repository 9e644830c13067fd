"""Closed-loop HTTP load: ``concurrency`` clients, each sending its next request on an answer.

What a SageMaker endpoint sees from a fixed number of callers; images per second is answered
requests over wall time.
"""

import collections
import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import requests


@dataclasses.dataclass
class LoadResult:
    concurrency: int
    seconds: list[float]  # latency of each answered request
    statuses: collections.Counter[int]
    wall: float

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def images_per_second(self) -> float:
        return self.ok / self.wall if self.wall > 0 else 0.0

    def check_answered(self, log_tail: str = "") -> "LoadResult":
        """Raise when no request was answered: a benchmark of errors is no benchmark."""
        if not self.ok:
            raise RuntimeError(f"no request answered 200: {dict(self.statuses)}\n{log_tail}")
        return self

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def percentiles(seconds: Sequence[float], points: Iterable[int] = (50, 90, 99)) -> dict[int, float]:
    """{50: p50, 90: p90, 99: p99} of ``seconds`` (linear interpolation between samples)."""
    return {point: float(np.percentile(seconds, point)) for point in points}


def post_loop(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    concurrency: int,
    total: int,
    timeout: float = 120,
) -> LoadResult:
    """Send ``total`` POSTs of ``body`` from ``concurrency`` threads; collect every outcome."""
    lock = threading.Lock()
    remaining = [total]
    seconds: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        with requests.Session() as session:
            start.wait()
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                try:
                    answer = session.post(url, data=body, headers=headers, timeout=timeout)
                    status = answer.status_code
                except requests.RequestException:
                    status = 0  # no answer at all: a timeout or a dropped connection
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        seconds.append(elapsed)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadResult(concurrency, seconds, statuses, time.perf_counter() - began)
