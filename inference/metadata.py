"""``model.json``: what the exported network needs to be served, written at packaging time."""

import dataclasses
import json
import math
from typing import Any

from inference import preprocess
from inference.params import MAX_DETECTIONS_LIMIT
from inference.precisions import BF16, FP32, INT8, PRECISIONS

__all__ = ["BF16", "FP32", "INT8", "PRECISIONS", "ModelMetadata"]
# bounds on what model.json may ask for, since a multi-model endpoint loads folders it did not
# make: every canvas is warmed at load (the worker memory budget was measured with sides up to
# 1024, what packaging writes), the classes are named in every answer, NMS is sized by topk
MAX_METADATA_BYTES = 1 << 20
MIN_SIDE, MAX_SIDE = 32, 1024
MAX_BUCKETS = 16
MAX_CLASSES = 10_000
MAX_NAME_LENGTH = 256
MAX_NMS_TOPK = 10_000
MAX_POST_NMS = MAX_DETECTIONS_LIMIT


@dataclasses.dataclass(frozen=True)
class Suppression:
    """Greedy per-class NMS: overlap above ``threshold`` suppresses, candidates scoring
    ``valid_threshold`` or less are dropped, ``topk`` considered, ``keep`` kept."""

    threshold: float
    valid_threshold: float
    topk: int
    keep: int


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    name: str
    classes: tuple
    short: int = 416
    max_size: int = 1024
    mean: tuple = preprocess.MEAN
    std: tuple = preprocess.STD
    nms_threshold: float = 0.45
    nms_topk: int = 400
    # candidates scoring this or less are dropped before NMS (GluonCV's valid_thresh)
    nms_valid_threshold: float = 0.01
    # archives packaged before 2026-12-05 ran NMS inside the graph; newer ones leave it to
    # postprocessing (scripts/lib/archives/detection_head.py says why)
    nms_in_graph: bool = True
    post_nms: int = 100
    weights: str = ""
    exported_with: dict = dataclasses.field(default_factory=dict)
    precision: str = FP32
    # the aspect mode's canvas long sides (preprocess); by precision when model.json has none
    buckets: tuple = ()
    # for INT8: how it was quantized (method, images, what stayed FP32 and why); for BF16, how
    # it was converted; and its agreement with the FP32 network, measured at packaging time
    quantization: dict = dataclasses.field(default_factory=dict)
    conversion: dict = dataclasses.field(default_factory=dict)
    agreement: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        default = (
            preprocess.BUCKETS if self.precision == FP32 else preprocess.LOWER_PRECISION_BUCKETS
        )
        buckets = preprocess.check_buckets(self.buckets or default, self.short, self.max_size)
        object.__setattr__(self, "buckets", buckets)

    @property
    def suppression(self) -> Suppression | None:
        """How postprocessing runs NMS for this model; None where the graph ran it."""
        if self.nms_in_graph:
            return None
        return Suppression(
            self.nms_threshold, self.nms_valid_threshold, self.nms_topk, self.post_nms
        )

    @property
    def preprocessing(self) -> dict[str, Any]:
        """Keyword arguments for ``preprocess.to_tensor``."""
        return {
            "short": self.short,
            "max_size": self.max_size,
            "mean": self.mean,
            "std": self.std,
            "buckets": self.buckets,
        }

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "name": self.name,
                    "classes": list(self.classes),
                    "preprocessing": {
                        "short": self.short,
                        "max_size": self.max_size,
                        "mean": list(self.mean),
                        "std": list(self.std),
                        "buckets": list(self.buckets),
                    },
                    "nms": {
                        "threshold": self.nms_threshold,
                        "topk": self.nms_topk,
                        "valid_threshold": self.nms_valid_threshold,
                        "in_graph": self.nms_in_graph,
                        "post_nms": self.post_nms,
                    },
                    "weights": self.weights,
                    "exported_with": self.exported_with,
                    "precision": self.precision,
                    **({"quantization": self.quantization} if self.quantization else {}),
                    **({"conversion": self.conversion} if self.conversion else {}),
                    **({"agreement": self.agreement} if self.agreement else {}),
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelMetadata":
        """Parse and check ``model.json``; a ``ValueError`` names the first field that cannot be
        served (a model directory is untrusted input on a multi-model endpoint)."""
        if len(text) > MAX_METADATA_BYTES:
            raise ValueError(f"model.json has more than {MAX_METADATA_BYTES} bytes")
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("model.json is nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError("model.json is not a JSON object")
        precision = data.get("precision", FP32)
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        pre, nms = section(data, "preprocessing"), section(data, "nms")
        base = cls(name="", classes=())  # the defaults
        short = whole(pre, "short", base.short, MIN_SIDE, MAX_SIDE)
        return cls(
            name=text_field(data, "name"),
            classes=class_names(data.get("classes")),
            short=short,
            max_size=whole(pre, "max_size", base.max_size, short, MAX_SIDE),
            mean=triple(pre, "mean", base.mean, 0.0, 1.0),
            std=triple(pre, "std", base.std, 1e-6, 1.0),
            buckets=tuple(
                whole({"bucket": side}, "bucket", 0, short, MAX_SIDE)
                for side in listed(pre, "buckets", MAX_BUCKETS)
            ),
            nms_threshold=fraction(nms, "threshold", base.nms_threshold),
            nms_topk=whole(nms, "topk", base.nms_topk, 1, MAX_NMS_TOPK),
            nms_valid_threshold=fraction(nms, "valid_threshold", base.nms_valid_threshold),
            nms_in_graph=flag(nms, "in_graph", base.nms_in_graph),
            post_nms=whole(nms, "post_nms", base.post_nms, 1, MAX_POST_NMS),
            weights=text_field(data, "weights", ""),
            exported_with=section(data, "exported_with"),
            precision=str(precision),
            quantization=section(data, "quantization"),
            conversion=section(data, "conversion"),
            agreement=section(data, "agreement"),
        )


def section(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not a JSON object")
    return value


def text_field(data: dict, key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{key} is not a string of at most {MAX_NAME_LENGTH} characters")
    return value


def listed(data: dict, key: str, most: int) -> list:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > most:
        raise ValueError(f"{key} is not a list of at most {most} items")
    return value


def class_names(value: object) -> tuple[str, ...]:
    """1 to ``MAX_CLASSES`` distinct, non-empty names."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CLASSES:
        raise ValueError(f"classes is not a list of 1 to {MAX_CLASSES} names")
    if not all(isinstance(name, str) and 0 < len(name) <= MAX_NAME_LENGTH for name in value):
        raise ValueError(
            f"classes holds something other than names of 1 to {MAX_NAME_LENGTH} characters"
        )
    if len(set(value)) != len(value):
        raise ValueError("classes names a class twice")
    return tuple(value)


def whole(data: dict, key: str, default: int, least: int, most: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise ValueError(f"{key} is not a whole number from {least} to {most}")
    return value


def flag(data: dict, key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false")
    return value


def number(value: object, key: str, least: float, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is not a number")
    if not (math.isfinite(value) and least <= value <= most):
        raise ValueError(f"{key} is not a number from {least} to {most}")
    return float(value)


def fraction(data: dict, key: str, default: float) -> float:
    return number(data.get(key, default), key, 0.0, 1.0)


def triple(data: dict, key: str, default: tuple, least: float, most: float) -> tuple:
    value = data.get(key, list(default))
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"{key} is not a list of three numbers")
    return tuple(number(item, key, least, most) for item in value)
