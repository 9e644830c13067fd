"""Parsers for option values (argparse ``type=``): a bad value is argparse's usage message and
exit 2, before a command starts any work."""

import argparse
import datetime
import math
import re
from collections.abc import Callable

from inference.sources import valid_bucket

# SageMaker's rule for endpoint, model and configuration names
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def key_value(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
    return key, value


def serverless_config(text: str) -> tuple[int, int]:
    try:
        memory, concurrency = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes MEMORY_MB:MAX_CONCURRENCY, got {text!r}") from None
    return memory, concurrency


def utc_time(text: str) -> datetime.datetime:
    """``2026-12-01`` or ``2026-12-01T10:00[:00][Z]`` -> an aware UTC datetime."""
    from scripts.lib.cloud.captures import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes a date or a time like 2026-12-01T10:00, got {text!r}"
        ) from None


def endpoint_name(text: str) -> str:
    """A name SageMaker takes: 1 to 63 letters, digits and inner hyphens."""
    if not SAGEMAKER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"takes a SageMaker name (1 to 63 letters, digits and hyphens, beginning and ending "
            f"with a letter or digit), got {text!r}"
        )
    return text


def s3_uri(text: str) -> str:
    bucket = text.removeprefix("s3://").split("/", 1)[0]
    if not text.startswith("s3://") or not valid_bucket(bucket):
        raise argparse.ArgumentTypeError(f"takes an s3://BUCKET/PREFIX address, got {text!r}")
    return text


def bucket_name(text: str) -> str:
    if not valid_bucket(text):
        raise argparse.ArgumentTypeError(
            f"takes an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-'), got {text!r}"
        )
    return text


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value: int | None = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"takes a whole number {allowed}, got {text!r}")
        return value

    return parse


def port_number(text: str) -> int:
    """A TCP port to listen on; 0 lets the system pick a free one."""
    return whole_number(0, 65535)(text)


def share(text: str) -> float:
    """A number from 0 to 1 (a threshold, an mAP)."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"takes a number from 0 to 1, got {text!r}")
    return value


def positive_number(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"takes a number above 0, got {text!r}")
    return value


def variant(text: str) -> tuple[str, float, str]:
    """``NAME[:WEIGHT]=TARGET``: a production variant, its share of the traffic (default 1) and
    what serves it (an s3:// archive, or for the local twin a server's URL)."""
    head, separator, target = text.partition("=")
    name, colon, weight_text = head.partition(":")
    weight = _number(weight_text) if colon else 1.0
    if not separator or not target or not SAGEMAKER_NAME.fullmatch(name) or not weight >= 0:
        raise argparse.ArgumentTypeError(
            f"takes NAME[:WEIGHT]=TARGET (a SageMaker name, a weight of 0 or more), got {text!r}"
        )
    return name, weight, target


def shadow(text: str) -> tuple[str, str]:
    """``NAME=TARGET``: a shadow variant and what serves it."""
    name, _, target = variant(text)
    if ":" in text.partition("=")[0]:
        raise argparse.ArgumentTypeError(
            f"takes NAME=TARGET (a shadow's share is --shadow-percent), got {text!r}"
        )
    return name, target


def weights(text: str) -> dict[str, float]:
    """``a=90,b=10``: variants' new weights."""
    found = {}
    for part in text.split(","):
        name, separator, value = part.strip().partition("=")
        weight = _number(value)
        if not separator or not SAGEMAKER_NAME.fullmatch(name) or not weight >= 0:
            raise argparse.ArgumentTypeError(f"takes NAME=WEIGHT[,NAME=WEIGHT...], got {text!r}")
        found[name] = weight
    return found


def _number(text: str) -> float:
    """A finite float, or NaN (which every comparison refuses)."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan
