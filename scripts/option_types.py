"""Parsers for option values (argparse ``type=``): a bad value is argparse's usage message and
exit 2, before a command starts any work."""

import argparse
import math
import re

# SageMaker's rule for endpoint, model and configuration names
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def key_value(text):
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
    return key, value


def serverless_config(text):
    try:
        memory, concurrency = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes MEMORY_MB:MAX_CONCURRENCY, got {text!r}") from None
    return memory, concurrency


def utc_time(text):
    """``2026-12-01`` or ``2026-12-01T10:00[:00][Z]`` -> an aware UTC datetime."""
    from scripts.lib.cloud.captures import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes a date or a time like 2026-12-01T10:00, got {text!r}"
        ) from None


def endpoint_name(text):
    """A name SageMaker takes: 1 to 63 letters, digits and inner hyphens."""
    if not SAGEMAKER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"takes a SageMaker name (1 to 63 letters, digits and hyphens, beginning and ending "
            f"with a letter or digit), got {text!r}"
        )
    return text


def s3_uri(text):
    bucket = text.removeprefix("s3://").split("/", 1)[0]
    if not text.startswith("s3://") or not re.fullmatch(
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket
    ):
        raise argparse.ArgumentTypeError(f"takes an s3://BUCKET/PREFIX address, got {text!r}")
    return text


def whole_number(minimum, maximum=None):
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"takes a whole number {allowed}, got {text!r}")
        return value

    return parse


def port_number(text):
    """A TCP port to listen on; 0 lets the system pick a free one."""
    return whole_number(0, 65535)(text)


def share(text):
    """A number from 0 to 1 (a threshold, an mAP)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"takes a number from 0 to 1, got {text!r}")
    return value


def positive_number(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"takes a number above 0, got {text!r}")
    return value
