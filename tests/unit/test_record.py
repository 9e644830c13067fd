"""The per-request record: inference ids, the worker's report, and the log line's two formats."""

import io
import json
import logging
import shlex

import pytest

from container import record
from container.door import logs


@pytest.mark.parametrize(
    "given, expected",
    [
        ("order-1234", "order-1234"),
        ("a" * 64, "a" * 64),
        ("with inner space", "with inner space"),
        ("a" * 65, None),
        (" leading-space", None),
        ("line\nbreak", None),
        ("caf\u00e9", None),
    ],
)
def test_a_callers_inference_id_is_kept_when_sagemaker_would_take_it(given, expected):
    assert record.inference_id(given) == expected


def test_a_missing_inference_id_is_made_fresh_each_time():
    first, second = record.inference_id(None), record.inference_id("")
    assert len(first) == 32 and int(first, 16) >= 0 and first != second


def test_server_timing_round_trip():
    stages = {"decode": 1.25, "forward": 400.0, "encode": 3.5}
    header = record.server_timing(stages)
    assert header == "decode;dur=1.25, forward;dur=400.00, encode;dur=3.50"
    assert record.parse_server_timing(header) == stages
    # other servers' metrics, descriptions and unreadable durations are ignored
    assert record.parse_server_timing('cache;desc="hit", db;dur=x, app;dur=2') == {"app": 2.0}


def test_the_workers_report_is_taken_and_foreign_stages_dropped():
    entry = record.Record("id-1")
    entry.take_worker_report(
        {
            record.SERVER_TIMING: "decode;dur=2, forward;dur=300, proxy;dur=9",
            record.IMAGE_FACTS: record.image_facts(3, 442368),
        }
    )
    assert entry.stages_ms == {"decode": 2.0, "forward": 300.0}
    assert (entry.detections, entry.pixels) == (3, 442368)
    entry.take_worker_report({})
    assert (entry.stages_ms, entry.detections, entry.pixels) == ({}, None, None)


def formatted(formatter, **fields):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("sm-detect.test-record")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("POST /invocations %d", 200, extra={"fields": fields})
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().strip()


def test_json_lines_carry_the_fields_as_members():
    line = formatted(logs.JsonLines(), inference_id="id-2", status=200)
    document = json.loads(line)
    assert document["message"] == "POST /invocations 200"
    assert (document["inference_id"], document["status"], document["level"]) == (
        "id-2",
        200,
        "WARNING",
    )
    assert document["time"].endswith("+00:00")


def test_text_lines_carry_the_fields_as_pairs():
    line = formatted(logs.KeyValueText(), inference_id="id-3", status=415)
    assert line.endswith("sm-detect.test-record POST /invocations 200 inference_id=id-3 status=415")


@pytest.mark.parametrize(
    "forged",
    ["forged status=200 error=None", 'quote" status=200', "back\\ status=200", "a=b"],
)
def test_a_callers_value_cannot_pose_as_more_pairs_in_a_text_line(forged):
    line = formatted(logs.KeyValueText(), inference_id=forged, status=415)
    pairs = line.split(" POST /invocations 200 ", 1)[1]
    tokens = shlex.split(pairs)  # how a reader splits the line: quoted values stay one token
    assert tokens[-1] == "status=415" and len(tokens) == 2
    assert tokens[0] == f"inference_id={forged}"
