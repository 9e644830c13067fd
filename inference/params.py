"""Request parameters: ``X-Amzn-SageMaker-Custom-Attributes`` over per-endpoint defaults.

The header reads ``threshold=0.5,max_detections=20,classes=dog;person,mode=square320``, and
``coordinates=normalized`` for boxes as fractions of the image, ``image_id=7`` for the id a COCO
results answer gives the image. Defaults come from the environment (``SM_DETECT_THRESHOLD``, ...:
``ATTRIBUTES`` names each attribute's variable and parser, for the header, the environment and
every client alike) so one image can serve endpoints with different needs. Unknown keys are
refused rather than ignored, so a misspelt ``treshold`` does not silently do nothing.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from inference.errors import InvalidParameter
from inference.modes import ASPECT, check_mode

MAX_DETECTIONS_LIMIT = 1000
PIXELS, NORMALIZED = "pixels", "normalized"
COORDINATES = (PIXELS, NORMALIZED)
MAX_IMAGE_ID = 2**63 - 1  # COCO's ids are 64-bit integers


@dataclasses.dataclass(frozen=True)
class RequestParams:
    threshold: float = 0.5
    max_detections: int = 100
    classes: tuple = ()  # empty: every class
    mode: str = ASPECT  # how the image is sized for the network, see preprocess
    coordinates: str = PIXELS  # boxes in the image's pixels, or as fractions of its sides
    image_id: int | None = None  # a COCO results answer's id for the image; None: its position

    def with_attributes(self, header: str | None) -> "RequestParams":
        """These parameters overridden by a Custom-Attributes header value."""
        return dataclasses.replace(self, **parse_attributes(header))


def parse_attributes(header: str | None) -> dict:
    """``'threshold=0.5,classes=dog;cat'`` -> ``{'threshold': 0.5, 'classes': ('dog', 'cat')}``."""
    values = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, separator, value = item.partition("=")
        key = key.strip().lower()
        if not separator:
            raise InvalidParameter(f"custom attribute {item!r} is not key=value")
        if key not in PARSERS:
            raise InvalidParameter(
                f"unknown custom attribute {key!r}; known: " + ", ".join(sorted(PARSERS))
            )
        values[key] = PARSERS[key](value.strip())
    return values


def parse_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameter(f"threshold must be a number, got {text!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidParameter(f"threshold must be between 0 and 1, got {text!r}")
    return value


def parse_max_detections(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"max_detections must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_DETECTIONS_LIMIT:
        raise InvalidParameter(
            f"max_detections must be between 1 and {MAX_DETECTIONS_LIMIT}, got {text!r}"
        )
    return value


def parse_classes(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(";") if name.strip())
    if not names:
        raise InvalidParameter("classes must name at least one class, e.g. classes=dog;person")
    return names


def parse_coordinates(text: str) -> str:
    if text not in COORDINATES:
        raise InvalidParameter(f"coordinates must be one of {', '.join(COORDINATES)}, got {text!r}")
    return text


def parse_image_id(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_IMAGE_ID:
        raise InvalidParameter(f"image_id must be a whole number from 0 to 2^63-1, got {text!r}")
    return int(text)


@dataclasses.dataclass(frozen=True)
class Attribute:
    """One Custom-Attributes key: its ``RequestParams`` field, its environment default's variable
    (None: a request's own, never an endpoint's default), and the parser that checks a value (a
    ``RequestError`` when it cannot be taken)."""

    name: str
    variable: str | None
    parse: Callable[[str], Any]


ATTRIBUTES = (
    Attribute("threshold", "SM_DETECT_THRESHOLD", parse_threshold),
    Attribute("max_detections", "SM_DETECT_MAX_DETECTIONS", parse_max_detections),
    Attribute("classes", "SM_DETECT_CLASSES", parse_classes),
    Attribute("mode", "SM_DETECT_MODE", check_mode),
    Attribute("coordinates", "SM_DETECT_COORDINATES", parse_coordinates),
    Attribute("image_id", None, parse_image_id),
)
PARSERS = {attribute.name: attribute.parse for attribute in ATTRIBUTES}
