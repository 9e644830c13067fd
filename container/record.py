"""What one request did: its inference id, status, sizes and times, written as one log line.

The inference id is the caller's ``X-Amzn-SageMaker-Inference-Id`` (SageMaker's InferenceId)
when given, a new one otherwise; the answer carries it back and the worker is given it, so the
front door's line and the worker's lines name the same request. The worker reports how long
decoding, the forward pass and encoding took in a standard ``Server-Timing`` header, and the
number of detections and pixels in one of its own (``X-Sm-Detect-Image``), which the door
removes before answering.
"""

import dataclasses
import logging
import re
import uuid
from collections.abc import Mapping

SERVER_TIMING = "Server-Timing"
IMAGE_FACTS = "X-Sm-Detect-Image"  # worker -> door only
# SageMaker's rule for InferenceId: 1 to 64 printable characters, the first not a space
VALID_INFERENCE_ID = re.compile(r"[!-~][ -~]{0,63}")
STAGES = ("decode", "forward", "encode")

logger = logging.getLogger("sm-detect.request")


def inference_id(given: str | None) -> str | None:
    """The caller's id, or a new one when none was given; ``None`` for an invalid one."""
    if not given:
        return uuid.uuid4().hex
    return given if VALID_INFERENCE_ID.fullmatch(given) else None


def server_timing(stages_ms: dict[str, float]) -> str:
    """``{"decode": 1.25}`` -> ``decode;dur=1.25``."""
    return ", ".join(f"{stage};dur={milliseconds:.2f}" for stage, milliseconds in stages_ms.items())


def parse_server_timing(header: str | None) -> dict[str, float]:
    """``decode;dur=1.25, forward;dur=400`` -> ``{"decode": 1.25, "forward": 400.0}``."""
    stages: dict[str, float] = {}
    for metric in (header or "").split(","):
        name, *parameters = (part.strip() for part in metric.split(";"))
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if name and key == "dur":
                try:
                    stages[name] = float(value)
                except ValueError:
                    continue
    return stages


def image_facts(detections: int, pixels: int, canvas: str = "") -> str:
    """What the worker tells the door of an answer: its detections, the image's pixels, and the
    canvas the network took (``555x416``, width by height)."""
    return f"detections={detections};pixels={pixels}" + (f";canvas={canvas}" if canvas else "")


def parse_image_facts(header: str | None) -> tuple[int | None, int | None, str]:
    """``detections=3;pixels=442368;canvas=555x416`` -> ``(3, 442368, "555x416")``;
    ``(None, None, "")`` when absent."""
    facts = dict(part.partition("=")[::2] for part in (header or "").split(";") if "=" in part)
    canvas = facts.get("canvas", "")
    try:
        return int(facts["detections"]), int(facts["pixels"]), guard_canvas(canvas)
    except (KeyError, ValueError):
        return None, None, ""


def guard_canvas(canvas: str) -> str:
    return canvas if re.fullmatch(r"\d{1,5}x\d{1,5}(,\d{1,5}x\d{1,5})*", canvas) else ""


@dataclasses.dataclass
class Record:
    """Filled in as the request goes through the door; ``log()`` writes it."""

    inference_id: str
    content_type: str = ""
    accept: str = ""
    bytes: int = 0
    status: int = 0
    latency_ms: float = 0.0
    error_code: str = ""
    response_bytes: int = 0
    detections: int | None = None
    pixels: int | None = None
    canvas: str = ""  # the network's input, width x height
    stages_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    retried: bool = False
    target_model: str = ""  # a multi-model endpoint's model, as the caller named it

    def take_worker_report(self, headers: Mapping[str, str]) -> None:
        """The stage times and image facts the worker sent with its answer."""
        self.stages_ms = {
            stage: value
            for stage, value in parse_server_timing(headers.get(SERVER_TIMING)).items()
            if stage in STAGES
        }
        self.detections, self.pixels, self.canvas = parse_image_facts(headers.get(IMAGE_FACTS))

    def fields(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "inference_id": self.inference_id,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 2),
            "content_type": self.content_type,
            "accept": self.accept,
            "bytes": self.bytes,
            "response_bytes": self.response_bytes,
            "detections": self.detections,
            "pixels": self.pixels,
            **({"canvas": self.canvas} if self.canvas else {}),
            **{f"{stage}_ms": round(value, 2) for stage, value in self.stages_ms.items()},
            "retried": self.retried,
        }
        if self.target_model:
            fields["target_model"] = self.target_model
        if self.error_code:
            fields["error"] = self.error_code
        return fields

    def log(self) -> None:
        logger.info("POST /invocations %d", self.status, extra={"fields": self.fields()})
