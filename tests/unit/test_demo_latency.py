"""The demo page's chart reads the server's histogram: each bucket's own count, series summed."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from container.door.prometheus import latency_histogram


def test_a_histogram_of_known_requests_comes_back_bucket_by_bucket():
    registry = CollectorRegistry()
    seconds = Histogram(
        "sm_detect_request_seconds", "", ["model"], buckets=(0.1, 0.5, 3), registry=registry
    )
    for model, value in (("a", 0.05), ("a", 0.3), ("b", 0.3), ("b", 2.5), ("b", 7)):
        seconds.labels(model).observe(value)
    Histogram("other_seconds", "", registry=registry).observe(0.2)
    found = latency_histogram(generate_latest(registry).decode())
    assert found["buckets"] == [[0.1, 1], [0.5, 2], [3.0, 1], [None, 1]]
    assert found["count"] == 5
    assert found["sum"] == pytest.approx(10.15)
