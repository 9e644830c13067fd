"""Prometheus: the server's own metrics at ``GET /metrics``, in Prometheus' text format.

For whoever runs the image outside SageMaker (``docker run``, Kubernetes, a load balancer of
their own); on SageMaker only ``/ping`` and ``/invocations`` reach the container, and the
gateways do not forward ``/metrics`` either. Made by the official ``prometheus-client``, in the
front door's one process: every request passes through it, and each worker's stage times and
image facts come back with its answer (``container.record``), so no worker keeps metrics of its
own. Series: requests by status and error code, latency histograms of the whole request and of
each stage the worker reports (decode; forward, preprocessing included; encode, postprocessing
included), pixels and detections per request, requests in flight and those of them queued for a
worker, workers that loaded the model and ended, each live worker's resident memory, and what is
served as an info metric. A multi-model endpoint's series carry the model's name, only for models
it loaded (any other name is ``unknown``) and at most ``MAX_MODEL_LABELS`` of them, so callers
cannot grow the series.
"""

import math
import os
from collections.abc import Iterator
from typing import Any

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from container import readiness
from container.record import Record

NAMESPACE = "sm_detect"
# this detector's requests take tens of milliseconds (INT8, small images) to tens of seconds
# (a batch of large photos on two cores)
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60)
PIXEL_BUCKETS = (1e4, 1e5, 3e5, 1e6, 2e6, 5e6, 1e7, 2e7, 4e7)
DETECTION_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_MODEL_LABELS = 64
UNKNOWN_MODEL, OTHER_MODELS = "unknown", "other"


class Workers:
    """A collector read at each scrape: the live workers' memory, and how many workers that had
    loaded the model have ended (MMS starts another; unloading a model ends its workers too)."""

    def __init__(self, ready_dir: str) -> None:
        self.ready_dir = ready_dir

    def collect(self) -> Iterator[Metric]:
        live = readiness.live_workers(self.ready_dir)
        memory = GaugeMetricFamily(
            f"{NAMESPACE}_worker_resident_bytes",
            "Resident memory of each worker that has loaded the model",
            labels=["pid"],
        )
        for pid in live:
            try:
                memory.add_metric([str(pid)], psutil.Process(pid).memory_info().rss)
            except psutil.Error:
                continue
        yield memory
        ever = sum(name.isdigit() for name in os.listdir(self.ready_dir))
        yield CounterMetricFamily(
            f"{NAMESPACE}_worker_restarts",
            "Workers that had loaded the model and ended",
            value=max(0, ever - len(live)),
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_workers_ready", "Workers that have loaded the model", value=len(live)
        )


class Prometheus:
    """The registry the front door fills and ``/metrics`` shows."""

    def __init__(self, ready_dir: str) -> None:
        self.registry = CollectorRegistry()
        self.labels_seen: set[str] = set()
        self.requests = Counter(
            f"{NAMESPACE}_requests",
            "Invocations answered, by status code and error code",
            ["model", "code", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{NAMESPACE}_request_seconds",
            "Whole-request latency at the front door",
            ["model"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            f"{NAMESPACE}_stage_seconds",
            "Time in each stage the worker reports",
            ["model", "stage"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.pixels = Histogram(
            f"{NAMESPACE}_image_pixels",
            "Pixels of the images of a request",
            ["model"],
            buckets=PIXEL_BUCKETS,
            registry=self.registry,
        )
        self.detections = Histogram(
            f"{NAMESPACE}_detections",
            "Detections in an answer",
            ["model"],
            buckets=DETECTION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{NAMESPACE}_requests_in_flight",
            "Invocations being answered now",
            registry=self.registry,
        )
        self.queued = Gauge(
            f"{NAMESPACE}_requests_queued",
            "Invocations passed to the model server that no worker has started on",
            registry=self.registry,
        )
        self.served = Info(f"{NAMESPACE}_model", "What is served", registry=self.registry)
        self.registry.register(Workers(ready_dir))

    def watch(self, door: Any) -> None:
        """The gauges read, at each scrape, the front door's requests in flight and queued."""
        self.in_flight.set_function(lambda: door.in_flight)
        self.queued.set_function(door.queued)

    def describe(self, **facts: object) -> None:
        """The info metric's labels: model, precision, oneDNN ISA, ..."""
        self.served.info({key: str(value) for key, value in facts.items()})

    def label(self, model_name: str, known: bool) -> str:
        """The model label for ``model_name``: itself when ``known`` (loaded), bounded."""
        if not known:
            return UNKNOWN_MODEL
        if model_name not in self.labels_seen and len(self.labels_seen) >= MAX_MODEL_LABELS:
            return OTHER_MODELS
        self.labels_seen.add(model_name)
        return model_name

    def record(self, record: Record, model: str) -> None:
        """What one request (a ``container.record.Record``) measured, under ``model``."""
        self.requests.labels(model, str(record.status), record.error_code or "").inc()
        self.latency.labels(model).observe(record.latency_ms / 1000)
        for stage, milliseconds in record.stages_ms.items():
            self.stages.labels(model, stage).observe(milliseconds / 1000)
        if record.pixels is not None:
            self.pixels.labels(model).observe(record.pixels)
        if record.detections is not None:
            self.detections.labels(model).observe(record.detections)

    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) of a scrape."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def latency_histogram(exposition: str) -> dict[str, Any]:
    """``{"buckets": [[upper bound in s, requests], ...], "count", "sum"}`` from a scrape
    (``exposition``): the whole-request latency histogram, its series summed, each bucket's own
    count (not the cumulative one Prometheus keeps). For the demo page and the benchmark."""
    cumulative: dict[float, float] = {}
    count = total = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name != f"{NAMESPACE}_request_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                cumulative[bound] = cumulative.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
    buckets: list[list[float | None]] = []
    below = 0.0
    for bound in sorted(cumulative):
        # JSON has no infinity: the last bucket's bound is null
        buckets.append([bound if math.isfinite(bound) else None, cumulative[bound] - below])
        below = cumulative[bound]
    return {"buckets": buckets, "count": count, "sum": total}


def stage_means(exposition: str) -> dict[str, float]:
    """Each stage's mean time in seconds, from a scrape (``exposition``), its series summed."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != f"{NAMESPACE}_stage_seconds":
            continue
        for sample in family.samples:
            into = {"_sum": sums, "_count": counts}.get(sample.name[len(family.name) :])
            if into is not None:
                stage = sample.labels["stage"]
                into[stage] = into.get(stage, 0.0) + sample.value
    return {stage: sums[stage] / counts[stage] for stage in sums if counts.get(stage)}
