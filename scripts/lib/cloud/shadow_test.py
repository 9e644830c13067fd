"""A shadow test read back: the production variant's and the shadow's captured answers to the
same requests, compared as an INT8 model is compared with its FP32 one.

Both variants' captures hold the request's ``eventId`` (SageMaker gives the shadow's copy the id
of the request it copies; the local twin does the same); events are paired by it, and by the
caller's ``inferenceId`` when no event id pairs. Production's detections are the reference.
Answers are JSON (or NPY) as the server sends them; a request answered with a picture has no
detections to compare and is counted apart.

Latency comes from the captures when they carry it (the twin writes ``modelLatency``); an
endpoint's captures do not, so for those it is CloudWatch's ModelLatency of each variant over the
captured span, when the endpoint is named.
"""

import collections
import contextlib
import dataclasses
import datetime
import io
import json
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from inference.postprocess import Detection
from scripts.lib.archives import agreement
from scripts.lib.cloud import captures
from scripts.lib.cloud.aws import Aws
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

SQNR_NOT_MEASURED = ()  # captures hold answers, not the network's raw output maps


@dataclasses.dataclass
class Answers:
    """One variant's captured answers: detections by event key, and what was left aside."""

    detections: dict[str, list[Detection]] = dataclasses.field(default_factory=dict)  # by key
    by_inference_id: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> key
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    times: list[datetime.datetime] = dataclasses.field(default_factory=list)
    unreadable: int = 0  # answers that hold no detections
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


def detections_in(body: bytes, content_type: str) -> list[Detection] | None:
    """The detections of one captured answer, or None when it holds none to compare (a picture,
    or something that is not this server's answer)."""
    try:
        if "json" in content_type:
            return [
                Detection(
                    int(item["class_id"]),
                    str(item.get("label", item["class_id"])),
                    float(item["score"]),
                    tuple(float(item["box"][side]) for side in ("xmin", "ymin", "xmax", "ymax")),
                )
                for item in json.loads(body)["detections"]
            ]
        if "npy" in content_type:
            rows = np.load(io.BytesIO(body), allow_pickle=False).reshape(-1, 6)
            return [
                Detection(int(row[0]), str(int(row[0])), float(row[1]), tuple(map(float, row[2:])))
                for row in rows
            ]
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        return None
    return None


def read_answers(aws: Aws, location: str, variant: str) -> Answers:
    """Every captured answer of ``variant`` under ``location`` (s3:// or a folder)."""
    answers = Answers()
    for number, event in enumerate(captures.events(aws, location, variant)):
        try:
            if isinstance(event, captures.BadEvent):
                answers.skipped[str(event)] += 1
                continue
            metadata, captured = event.get("eventMetadata"), event.get("captureData")
            answer = captured.get("endpointOutput") if isinstance(captured, dict) else None
            if not isinstance(metadata, dict) or not isinstance(answer, dict):
                raise captures.BadEvent("no answer")
            content_type = str(answer.get("observedContentType", ""))
            found = detections_in(captures.payload(answer), content_type)
        except captures.BadEvent:
            answers.unreadable += 1
            continue
        if found is None:
            answers.unreadable += 1
            continue
        key = str(metadata.get("eventId") or f"event-{number}")
        answers.detections[key] = found
        if metadata.get("inferenceId"):
            answers.by_inference_id[str(metadata["inferenceId"])] = key
        if isinstance(metadata.get("modelLatency"), int | float):
            answers.latencies_ms.append(metadata["modelLatency"] / 1000)
        if metadata.get("inferenceTime"):
            with contextlib.suppress(ValueError):
                answers.times.append(captures.parse_time(str(metadata["inferenceTime"])))
    return answers


def pairs(
    production: Answers, shadow: Answers
) -> list[tuple[str, list[Detection], list[Detection]]]:
    """[(name, production's detections, the shadow's)] for the requests both answered."""
    shared = sorted(production.detections.keys() & shadow.detections.keys())
    if shared:
        return [(key, production.detections[key], shadow.detections[key]) for key in shared]
    by_id = sorted(production.by_inference_id.keys() & shadow.by_inference_id.keys())
    return [
        (
            inference_id,
            production.detections[production.by_inference_id[inference_id]],
            shadow.detections[shadow.by_inference_id[inference_id]],
        )
        for inference_id in by_id
    ]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float] | None:
    """p50 and p90 in milliseconds of the latencies given, and how many."""
    if not latencies_ms:
        return None
    ordered = sorted(latencies_ms)
    deciles = statistics.quantiles(ordered, n=10) if len(ordered) > 1 else [ordered[0]] * 9
    return {"count": len(ordered), "p50_ms": statistics.median(ordered), "p90_ms": deciles[8]}


def cloudwatch_latency(
    aws: Aws, endpoint: str, variant: str, times: Sequence[datetime.datetime]
) -> dict[str, float] | None:
    """CloudWatch's ModelLatency of ``variant`` over the span of ``times``, in milliseconds."""
    if not times:
        return None
    start = min(times) - datetime.timedelta(minutes=1)
    end = max(times) + datetime.timedelta(minutes=1)
    answer = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Average", "SampleCount"],
    )
    points = answer.get("Datapoints", [])
    count = sum(point["SampleCount"] for point in points)
    if not count:
        return None
    # ModelLatency is in microseconds; each minute's average weighted by its requests
    average = sum(point["Average"] * point["SampleCount"] for point in points) / count / 1000
    return {"count": int(count), "average_ms": average}


def compare(
    aws: Aws,
    location: str,
    production: str,
    shadow: str,
    threshold: float = 0.0,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """The shadow's agreement with production over the requests both answered."""
    answers = {name: read_answers(aws, location, name) for name in (production, shadow)}
    for name, found in answers.items():
        if not found.detections:
            raise CommandError(
                f"no answers of variant {name} under {location}"
                + (
                    f" ({found.unreadable} captured answer(s) hold no detections)"
                    if found.unreadable
                    else ""
                ),
                remedy="capture_variants",
            )
    paired = pairs(answers[production], answers[shadow])
    if not paired:
        raise CommandError(
            f"no request of variant {production} has an answer of {shadow} under {location}",
            remedy="capture_variants",
        )
    images = [
        agreement.compare_image(
            name, reference, candidate, SQNR_NOT_MEASURED, SQNR_NOT_MEASURED, threshold
        )
        for name, reference, candidate in paired
    ]
    totals = agreement.summary(
        images, [reference for _, reference, _ in paired], [c for _, _, c in paired], threshold
    )
    latency: dict[str, dict[str, float] | None] = {}
    for name, found in answers.items():
        latency[name] = latency_summary(found.latencies_ms)
        if latency[name] is None and endpoint:
            latency[name] = cloudwatch_latency(aws, endpoint, name, found.times)
    return {
        "images": images,
        "totals": totals,
        "latency": latency,
        "unpaired": {name: len(found.detections) - len(paired) for name, found in answers.items()},
        "unreadable": {name: found.unreadable for name, found in answers.items()},
        "skipped": {name: dict(found.skipped) for name, found in answers.items()},
    }


def report(
    result: dict[str, Any],
    production: str,
    shadow: str,
    each: bool = False,
    json_path: str | None = None,
) -> None:
    """Say the verdict; with ``json_path``, also write every figure there."""
    totals = result["totals"]
    shown = result["images"] if each else []
    say(
        f"{shadow} against {production} on {totals['images']} request(s) both answered "
        f"(production's detections are the reference):"
    )
    say(agreement.table(shown, totals, production, shadow, sqnr=False, item="request"))
    say(
        f"matched {totals['matched']} of {totals['reference_detections']} "
        f"({100 * totals['matched_share']:.1f}%), mAP@0.5 {agreement.shown(totals['map50'], 3)}, "
        f"largest score difference {totals['max_score_difference']:.4f}"
    )
    for name, latency in result["latency"].items():
        if latency is None:
            say(f"latency of {name}: not captured (name --endpoint to read it from CloudWatch)")
        elif "p50_ms" in latency:
            say(
                f"latency of {name}: p50 {latency['p50_ms']:.0f} ms, p90 {latency['p90_ms']:.0f} "
                f"ms over {latency['count']} answer(s)"
            )
        else:
            say(
                f"latency of {name}: {latency['average_ms']:.0f} ms on average over "
                f"{latency['count']} request(s) (CloudWatch ModelLatency)"
            )
    for name in (production, shadow):
        left = result["unpaired"][name]
        unreadable = result["unreadable"][name]
        if left or unreadable:
            say(
                f"{name}: {left} answer(s) without the other variant's, {unreadable} holding no "
                "detections (pictures, errors, other formats)"
            )
        for reason, count in sorted(result["skipped"][name].items()):
            say(f"{name}: skipped {count}: {reason}")
    if json_path:
        figures = {
            "production": production,
            "shadow": shadow,
            "totals": {
                key: agreement.finite(value) for key, value in totals.items() if key != "sqnr_db"
            },
            "latency": result["latency"],
            "unpaired": result["unpaired"],
            "unreadable": result["unreadable"],
            "skipped": result["skipped"],
            "requests": [
                {
                    key: agreement.finite(value)
                    for key, value in image.to_dict().items()
                    if key != "sqnr_db"
                }
                for image in result["images"]
            ],
        }
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump(figures, file, indent=2)
