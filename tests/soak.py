"""Soak: 1000 requests at concurrency 2 against a real server; prints worker RSS and its slope.

    .venv/bin/python -m tests.soak build/model-random.tar.gz [REQUESTS]

A measurement, not a test: it prints figures and asserts nothing.
"""

import concurrent.futures
import pathlib
import sys
import tempfile

import numpy as np
import psutil
import requests

from tests.helpers import encode_image
from tests.servers import running_server


def worker_rss_mb(marker):
    total = 0
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "model_service_worker.py" in cmdline and marker in cmdline:
            total += process.memory_info().rss
    return total / 1e6


def main(archive, total=1000, concurrency=2, sample_every=100):
    body = encode_image(np.random.default_rng(7).integers(0, 256, (96, 128, 3), np.uint8), "JPEG")
    with (
        tempfile.TemporaryDirectory() as folder,
        running_server(archive, pathlib.Path(folder) / "soak") as server,
        concurrent.futures.ThreadPoolExecutor(concurrency) as pool,
    ):

        def one(_):
            return requests.post(
                f"{server.url}/invocations",
                data=body,
                timeout=120,
                headers={"Content-Type": "image/jpeg"},
            ).status_code

        samples, statuses = [(0, worker_rss_mb(folder))], {}
        for start in range(0, total, sample_every):
            for status in pool.map(one, range(start, min(start + sample_every, total))):
                statuses[status] = statuses.get(status, 0) + 1
            samples.append((min(start + sample_every, total), worker_rss_mb(folder)))
    counts, rss = np.array(samples, dtype=float).T
    later = counts >= sample_every  # the first batch includes allocator warm-up
    slope = np.polyfit(counts[later], rss[later], 1)[0]
    print(f"requests: {total} at concurrency {concurrency}, statuses: {statuses}")
    print("worker RSS (MB) every", sample_every, "requests:", " ".join(f"{v:.0f}" for v in rss))
    print(f"slope after the first {sample_every}: {slope * 1000:.1f} MB per 1000 requests")


if __name__ == "__main__":
    main(sys.argv[1], *(int(value) for value in sys.argv[2:3]))
