"""Variants, shadows and guarded updates, where the answer is known by hand: the twin's choice of
variant, the shadow's share of copies, the option values, the capture files' layout, and reading
captured answers back."""

import argparse
import io
import json

import numpy as np
import pytest

from scripts import option_types
from scripts.lib.cloud import captures, guarded, shadow_test, variants
from scripts.lib.doors.traffic import Traffic, UnknownVariant
from scripts.lib.errors import CommandError
from tests.helpers import captured_event, cli


def test_weights_80_20_give_exactly_8_in_10_and_interleave():
    traffic = Traffic([("a", 80, "http://127.0.0.1:1"), ("b", 20, "http://127.0.0.1:2")])
    picked = [traffic.pick().name for _ in range(10)]
    assert picked.count("a") == 8 and picked.count("b") == 2
    assert picked[:5].count("b") == 1  # spread over the run, not bunched at its end


def test_target_variant_is_honoured_and_an_unknown_one_refused():
    traffic = Traffic([("a", 1, "http://127.0.0.1:1"), ("b", 0, "http://127.0.0.1:2")])
    assert traffic.pick("b").name == "b"  # even at weight 0, as SageMaker does
    assert {traffic.pick().name for _ in range(5)} == {"a"}
    with pytest.raises(UnknownVariant):
        traffic.pick("c")


@pytest.mark.parametrize("percent, copies", [(100, 8), (50, 4), (25, 2), (10, 0)])
def test_the_shadow_gets_its_percentage_of_copies(percent, copies):
    traffic = Traffic([("a", 1, "http://127.0.0.1:1")], ("s", "http://127.0.0.1:2"), percent)
    due = []
    for _ in range(8):
        traffic.requests += 1
        due.append(traffic.copy_due())
    assert sum(due) == copies
    if percent == 25:
        assert due == [False, False, False, True] * 2  # spread evenly


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("fp32:80=s3://b/m.tar.gz", ("fp32", 80.0, "s3://b/m.tar.gz")),
        ("int8=http://127.0.0.1:8081", ("int8", 1.0, "http://127.0.0.1:8081")),
        ("a:0.5=x", ("a", 0.5, "x")),
    ],
)
def test_variant_values(text, parsed):
    assert option_types.variant(text) == parsed


@pytest.mark.parametrize(
    "text", ["fp32", "fp32:=x", "fp32:-1=x", "fp32:nan=x", "-bad=x", "a:80=", "=s3://b/k"]
)
def test_bad_variant_values_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        option_types.variant(text)


def test_weights_and_shadow_values():
    assert option_types.weights("a=90, b=10") == {"a": 90.0, "b": 10.0}
    assert option_types.shadow("int8=s3://b/k") == ("int8", "s3://b/k")
    for bad in ("a=90,b", "a=-1", "a=inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            option_types.weights(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="--shadow-percent"):
        option_types.shadow("int8:10=s3://b/k")


@pytest.mark.parametrize(
    "specs, shadow, message",
    [
        ([("a", 1, "x"), ("a", 1, "y")], None, "a came twice"),
        ([("a", 0, "x"), ("b", 0, "y")], None, "weight above 0"),
        ([("a", 1, "x"), ("b", 1, "y")], ("s", "z", 50), "one production variant, not 2"),
        ([("a", 1, "x")], ("a", "z", 50), "a came twice"),
    ],
)
def test_variant_sets_that_cannot_be_deployed(specs, shadow, message):
    with pytest.raises(CommandError, match=message):
        variants.check(
            [variants.Variant(*spec) for spec in specs],
            variants.Shadow(*shadow) if shadow else None,
        )


def test_a_shadows_weight_is_its_share_of_productions():
    # SageMaker copies (shadow weight / production weight) of the requests to the shadow
    assert variants.shadow_weight(1.0, 25) == 0.25
    assert variants.shares([variants.Variant("a", 3, "x"), variants.Variant("b", 1, "y")]) == {
        "a": 75.0,
        "b": 25.0,
    }


@pytest.mark.parametrize(
    "kind, percent, size_key",
    [(guarded.CANARY, 10, "CanarySize"), (guarded.LINEAR, 25, "LinearStepSize")],
)
def test_guarded_update_deployment_config(kind, percent, size_key):
    config = guarded.GuardedUpdate(kind, percent, 600).deployment_config(["x/5xx", "x/latency"])
    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": kind,
        "WaitIntervalInSeconds": 600,
        size_key: {"Type": "CAPACITY_PERCENT", "Value": percent},
    }
    assert config["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": "x/5xx"},
        {"AlarmName": "x/latency"},
    ]


def test_a_canary_step_is_at_least_one_instance():
    canary = guarded.GuardedUpdate(guarded.CANARY, 10, 300)
    assert canary.describe(1).startswith("canary: 1 of 1 new instance(s) (100% of requests)")
    assert canary.describe(4).startswith("canary: 1 of 4 new instance(s) (25% of requests)")


@pytest.mark.parametrize(
    "path, variant",
    [
        ("captured/yolo/AllTraffic/2026/12/03/06/12-00-000-x.jsonl", "AllTraffic"),
        ("/tmp/c/yolo/int8/2026/12/03/06/f.jsonl", "int8"),
        ("prefix/f.jsonl", None),
        ("yolo/int8/2026/12/xx/06/f.jsonl", None),
    ],
)
def test_the_variant_is_read_from_a_capture_files_path(path, variant):
    assert captures.variant_of(path) == variant


ANSWER = {
    "detections": [
        {
            "class_id": 16,
            "label": "dog",
            "score": 0.9,
            "box": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4},
        }
    ]
}


def test_captured_answers_become_detections():
    (dog,) = shadow_test.detections_in(json.dumps(ANSWER).encode(), "application/json")
    assert (dog.class_id, dog.score, dog.box) == (16, 0.9, (1.0, 2.0, 3.0, 4.0))
    rows = io.BytesIO()
    np.save(rows, np.array([[16, 0.9, 1, 2, 3, 4]], dtype=np.float32))
    (same,) = shadow_test.detections_in(rows.getvalue(), "application/x-npy")
    assert same.class_id == 16 and same.box == (1.0, 2.0, 3.0, 4.0)
    assert shadow_test.detections_in(b"\xff\xd8 a picture", "image/jpeg") is None
    assert shadow_test.detections_in(b'{"error": "x"}', "application/json") is None


def event(event_id, inference_id=None, answer=ANSWER):
    ids = {"eventId": event_id, **({"inferenceId": inference_id} if inference_id else {})}
    return captured_event(answer, **ids)


def write_capture(root, variant, events):
    folder = root / "yolo" / variant / "2026" / "12" / "03" / "06"
    folder.mkdir(parents=True)
    (folder / "00-00-000-x.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_events_pair_by_event_id_else_by_inference_id(tmp_path):
    write_capture(tmp_path / "by-event", "prod", [event("e1"), event("e2"), event("e3")])
    write_capture(tmp_path / "by-event", "shadow", [event("e2"), event("e3"), event("e9")])
    production = shadow_test.read_answers(None, str(tmp_path / "by-event"), "prod")
    shadow = shadow_test.read_answers(None, str(tmp_path / "by-event"), "shadow")
    assert [name for name, _, _ in shadow_test.pairs(production, shadow)] == ["e2", "e3"]

    write_capture(tmp_path / "by-id", "prod", [event("p1", "req-1"), event("p2", "req-2")])
    write_capture(tmp_path / "by-id", "shadow", [event("s1", "req-2")])
    production = shadow_test.read_answers(None, str(tmp_path / "by-id"), "prod")
    shadow = shadow_test.read_answers(None, str(tmp_path / "by-id"), "shadow")
    assert [name for name, _, _ in shadow_test.pairs(production, shadow)] == ["req-2"]


def test_answers_without_detections_are_counted_not_compared(tmp_path):
    write_capture(tmp_path, "prod", [event("e1"), event("e2", answer={"no": "detections"})])
    production = shadow_test.read_answers(None, str(tmp_path), "prod")
    assert list(production.detections) == ["e1"] and production.unreadable == 1


def compare(folder, *options):
    """`sm-detect compare` of variant shadow against prod, in ``folder``; it must succeed."""
    result = cli(
        "compare",
        "--capture",
        str(folder),
        "--production",
        "prod",
        "--shadow",
        "shadow",
        *options,
        env=None,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_compare_reads_regular_capture_files_only_and_says_what_it_skipped(tmp_path):
    # links to a device and to a secret beside a real capture file: neither is opened, and the
    # command ends at once (a link to /dev/zero once took 2.7 GB, then a MemoryError)
    write_capture(tmp_path, "prod", [event("e1")])
    write_capture(tmp_path, "shadow", [event("e1")])
    folder = tmp_path / "yolo" / "shadow" / "2026" / "12" / "03" / "06"
    (folder / "zero.jsonl").symlink_to("/dev/zero")
    secret = tmp_path / "secret"
    secret.write_text(json.dumps(event("e1")) + "\n")
    (folder / "secret.jsonl").symlink_to(secret)
    result = compare(tmp_path)
    assert "shadow: skipped 2: capture files that are links or cannot be opened" in result.stderr
    shadow = shadow_test.read_answers(None, str(tmp_path), "shadow")
    assert list(shadow.detections) == ["e1"] and shadow.unreadable == 0


def test_capture_lines_over_the_bound_are_skipped_and_the_next_read(monkeypatch):
    monkeypatch.setattr(captures, "MAX_LINE_BYTES", 10)
    stream = io.BytesIO(b"short\n" + b"x" * 25 + b"\nnext\n" + b"y" * 11)
    lines = list(captures.bounded_lines(stream, chunk_bytes=4))
    assert [line if isinstance(line, bytes) else "too long" for line in lines] == [
        b"short",
        "too long",
        b"next",
        "too long",
    ]


def detection(class_id, box, score):
    xmin, ymin, xmax, ymax = box
    return {
        "class_id": class_id,
        "label": str(class_id),
        "score": score,
        "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
    }


@pytest.mark.parametrize(
    "threshold, reference, matched, map50",
    [
        # worked by hand: the shadow finds A (IoU 1), misses B (its box overlaps B's by 25 of
        # 175 square pixels, IoU 0.14) and adds C, a class-1 box elsewhere. Class 1: A's hit
        # then C's miss, AP 1.0; class 2: one miss, AP 0: mAP@0.5 0.5, 1 of 2 matched
        (0.0, 2, 1, 0.5),
        # production's B scores under the threshold: the reference is A alone, found
        (0.85, 1, 1, 1.0),
    ],
)
def test_compare_scores_a_known_pair(tmp_path, threshold, reference, matched, map50):
    production = {
        "detections": [detection(1, (0, 0, 10, 10), 0.9), detection(2, (20, 20, 30, 30), 0.8)]
    }
    shadow = {
        "detections": [
            detection(1, (0, 0, 10, 10), 0.85),
            detection(2, (25, 25, 35, 35), 0.7),
            detection(1, (50, 50, 60, 60), 0.3),
        ]
    }
    write_capture(tmp_path, "prod", [event("e1", answer=production)])
    write_capture(tmp_path, "shadow", [event("e1", answer=shadow)])
    figures = tmp_path / "figures.json"
    compare(tmp_path, "--threshold", str(threshold), "--json", str(figures))
    totals = json.loads(figures.read_text())["totals"]
    assert (totals["reference_detections"], totals["matched"]) == (reference, matched)
    assert totals["map50"] == pytest.approx(map50)
    assert totals["max_score_difference"] == pytest.approx(0.05)
