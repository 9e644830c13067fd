"""What an operator reads: the server's output, parsed as CloudWatch Logs would take it.

One JSON line per request with its inference id and stage times, CloudWatch Embedded Metric
Format documents checked against the format's specification, no health checks at INFO. (A
worker killed under load, and the retry that loses no request: tests/serving/test_load.py.)
"""

import json
import re
import time

import pytest
import requests

from tests.servers import QUICK_START, post_image, running_server, wait_until

pytestmark = pytest.mark.server
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
STAGES = ("decode_ms", "forward_ms", "encode_ms")


def json_lines(log):
    documents = []
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    return documents


def request_lines(log):
    return [d for d in json_lines(log) if d.get("logger") == "sm-detect.request"]


def metric_documents(log):
    return [d for d in json_lines(log) if "_aws" in d]


def assert_valid_emf(document):
    """The Embedded Metric Format specification's rules for one document.

    ``_aws`` holds a millisecond ``Timestamp`` and ``CloudWatchMetrics`` directives, each with a
    ``Namespace``, ``Dimensions`` (a list of dimension sets of at most 30 names) and ``Metrics``
    (``Name`` and an optional standard ``Unit``); every name a directive refers to is a member
    at the root, dimensions as strings and metrics as numbers.
    """
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 1_600_000_000_000
    for directive in metadata["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert 0 < len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str)
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert metric.get("Unit", "None") in {"Milliseconds", "Count", "None"}


@pytest.fixture(scope="module")
def json_server(model_archive, tmp_path_factory):
    with running_server(
        model_archive,
        tmp_path_factory.mktemp("json-server"),
        SM_DETECT_LOG_FORMAT="json",
        SM_DETECT_ENDPOINT_NAME="yolo-prod",
        SM_DETECT_VARIANT_NAME="AllTraffic",
        SM_DETECT_METRICS_NAMESPACE="sm-detect/test",
        **QUICK_START,  # one canvas to warm: what is read here is the log, not the canvases
    ) as server:
        yield server


def wait_for_lines(server, count, select=request_lines):
    assert wait_until(lambda: len(select(server.log)) >= count, 10), server.log[-3000:]
    return select(server.log)


def test_one_json_line_per_request_with_the_callers_inference_id(json_server, astronaut_jpeg):
    before = len(request_lines(json_server.log))
    given = post_image(
        json_server, astronaut_jpeg, **{INFERENCE_ID: "order-1234", "Accept": "application/json"}
    )
    assert given.status_code == 200
    assert given.headers[INFERENCE_ID] == "order-1234"
    fresh = post_image(
        json_server, astronaut_jpeg, **{"X-Amzn-SageMaker-Custom-Attributes": "threshold=0"}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers[INFERENCE_ID])

    lines = wait_for_lines(json_server, before + 2)[before:]
    by_id = {line["inference_id"]: line for line in lines}
    assert set(by_id) == {"order-1234", fresh.headers[INFERENCE_ID]}
    line = by_id["order-1234"]
    assert line["level"] == "INFO" and line["status"] == 200
    assert line["content_type"] == "image/jpeg" and line["bytes"] == len(astronaut_jpeg)
    assert line["detections"] == len(given.json()["detections"])
    assert line["pixels"] == 512 * 512
    assert line["retried"] is False
    assert all(line[stage] > 0 for stage in STAGES)
    assert sum(line[stage] for stage in STAGES) < line["latency_ms"]
    assert by_id[fresh.headers[INFERENCE_ID]]["detections"] == len(fresh.json()["detections"])


def test_stage_times_reach_the_client_and_internal_headers_do_not(json_server, astronaut_jpeg):
    response = post_image(json_server, astronaut_jpeg)
    timing = response.headers["Server-Timing"]
    assert [part.split(";")[0] for part in timing.split(", ")] == ["decode", "forward", "encode"]
    assert "X-Sm-Detect-Image" not in response.headers


def test_errors_are_logged_with_their_code(json_server):
    before = len(request_lines(json_server.log))
    refused = post_image(json_server, b"hello", "text/plain", **{INFERENCE_ID: "bad-type-1"})
    assert refused.status_code == 415 and refused.headers[INFERENCE_ID] == "bad-type-1"
    (line,) = wait_for_lines(json_server, before + 1)[before:]
    assert (line["status"], line["error"]) == (415, "UnsupportedContentType")
    too_long = post_image(json_server, b"x", **{INFERENCE_ID: "x" * 65})
    assert too_long.status_code == 400 and "Inference-Id" in too_long.json()["error"]["message"]


def test_metrics_are_embedded_metric_format(json_server, astronaut_jpeg):
    before = len(metric_documents(json_server.log))
    ok = post_image(json_server, astronaut_jpeg, **{INFERENCE_ID: "metrics-ok"})
    assert ok.status_code == 200
    refused = post_image(json_server, b"{}", "application/json", **{INFERENCE_ID: "metrics-bad"})
    assert refused.status_code == 400
    documents = wait_for_lines(json_server, before + 2, metric_documents)[before:]
    by_id = {document["InferenceId"]: document for document in documents}
    for document in by_id.values():
        assert_valid_emf(document)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "sm-detect/test"
        assert ["EndpointName", "VariantName"] in directive["Dimensions"]
        assert (document["EndpointName"], document["VariantName"]) == ("yolo-prod", "AllTraffic")
    success = by_id["metrics-ok"]
    names = {metric["Name"] for metric in success["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Latency", "DecodeLatency", "ForwardLatency", "EncodeLatency"} <= names
    assert success["Detections"] == len(ok.json()["detections"])
    assert (success["ImagePixels"], success["Errors"]) == (512 * 512, 0)
    failure = by_id["metrics-bad"]
    assert failure["Errors"] == 1 and failure["ErrorCode"] == "InvalidInput"
    assert ["EndpointName", "VariantName", "ErrorCode"] in failure["_aws"]["CloudWatchMetrics"][0][
        "Dimensions"
    ]


def test_in_json_mode_every_line_is_json_the_model_servers_included(json_server, astronaut_jpeg):
    assert post_image(json_server, astronaut_jpeg).ok
    lines = [line for line in json_server.log.splitlines() if line.strip()]
    not_json = [line for line in lines if not json_lines(line)]
    assert not not_json, not_json[:5]
    loggers = {document.get("logger") for document in json_lines(json_server.log)}
    # the model server's own lines came through the relay: its workers' load lines
    assert "inference.model" in loggers


TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+) ")


def test_a_terminal_shows_one_line_per_step_of_the_start(server):
    start = server.log.split("listening on")[0].splitlines()
    loggers = [match.group(1) for line in start if (match := TEXT_LINE.match(line))]
    assert set(loggers) == {"sm-detect.serve", "inference.model"}, start
    # what the command prints before the server logs: the archive unpacked, what is served
    assert len(start) - len(loggers) <= 3, start
    for noise in ("sun.reflect", "Cannot decide type", "attachIOStreams", "WorkerLifeCycle"):
        assert noise not in server.log


def test_health_checks_are_not_logged_at_info(json_server):
    for _ in range(5):
        assert requests.get(f"{json_server.url}/ping", timeout=10).status_code == 200
    time.sleep(1)
    assert "/ping" not in json_server.log


def test_debug_shows_health_checks_and_the_workers_lines(model_archive, astronaut_jpeg, tmp_path):
    with running_server(
        model_archive,
        tmp_path / "debug-server",
        SM_DETECT_LOG_LEVEL="debug",
        SM_DETECT_METRICS="off",
        **QUICK_START,
    ) as server:
        assert post_image(server, astronaut_jpeg, **{INFERENCE_ID: "debug-me"}).ok
        assert wait_until(lambda: "request debug-me:" in server.log, 10), server.log[-3000:]
        log = server.log
        assert "GET /ping 200" in log
        assert re.search(r"POST /invocations 200 .*inference_id=debug-me", log)  # text format
        # what INFO leaves out was relayed, not lost: a library's warnings, MMS's bookkeeping
        assert re.search(r"py\.warnings .*Cannot decide type", log)
        assert "attachIOStreams" in log and "sun.reflect" in log
        assert not metric_documents(log)


def test_a_terminal_shows_one_readable_line_per_request(server, astronaut_jpeg):
    # `make serve`: text lines, as a person reads them in a terminal
    before = len(server.log.splitlines())
    assert post_image(server, astronaut_jpeg, **{INFERENCE_ID: "one-line-please"}).ok
    assert wait_until(lambda: "one-line-please" in server.log, 10)
    time.sleep(1)  # anything else this request would print has been printed by now
    new = server.log.splitlines()[before:]
    assert len(new) == 1, new
    assert "POST /invocations 200" in new[0] and len(new[0]) < 500
