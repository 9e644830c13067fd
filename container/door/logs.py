"""Logs: one line per event on standard error, as JSON or as text, never with credentials.

SageMaker ships a container's output to CloudWatch Logs, where JSON lines can be queried by
field (Logs Insights); on a terminal ``key=value`` text reads better. ``SM_DETECT_LOG_FORMAT``
picks one (``json`` in the image, ``text`` by default), ``SM_DETECT_LOG_LEVEL`` the level.
A record's ``fields`` (``logger.info(..., extra={"fields": {...}})``) become JSON members, or
``key=value`` pairs after the text.
"""

import datetime
import json
import logging
import re
import sys
from typing import Any

from container.door import guard


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return getattr(record, "fields", None) or {}


class JsonLines(logging.Formatter):
    """``{"time", "level", "logger", "message", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


NEEDS_QUOTES = re.compile(r'[\s="\\]|^$')


def text_value(value: object) -> str:
    """``value`` as one token of a ``key=value`` line: quoted (JSON string syntax) when it holds a
    space, ``=``, a quote or a backslash, so that a caller's value cannot pose as more pairs."""
    text = str(value)
    return json.dumps(text) if NEEDS_QUOTES.search(text) else text


class KeyValueText(logging.Formatter):
    """``time logger message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = " ".join(f"{key}={text_value(value)}" for key, value in fields_of(record).items())
        return f"{text} {pairs}" if pairs else text


def configure(as_json: bool = False, level: str = "INFO") -> None:
    """This process's log lines: one handler on standard error, credentials masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if as_json else KeyValueText())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    guard.protect_logs()
