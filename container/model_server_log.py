"""The model server's output, relayed line by line into this process's logs.

Three things print while MMS runs: MMS itself through log4j (its pattern here, ``LOG_PATTERN``,
is level, logger and message separated by tabs), its workers through MMS (their standard output
at INFO, standard error at WARN, under the logger ``WorkerLifeCycle``), and the JVM and MMS's
launcher on their own ("Model server started.", log4j's notice that Java 9 has no
``sun.reflect``). Relayed through Python's logging, every line takes the front door's format
(one JSON document per line in JSON mode) and its level setting, so that a terminal at INFO
shows one line per step of the start and the details wait for ``SM_DETECT_LOG_LEVEL=DEBUG``.

The worker's own records (``configure_worker``) cross as ``WORKER_MARK`` followed by a JSON
document, and keep their level and logger. Lines that are MMS's bookkeeping rather than news
(a worker's connections and streams, a pid not yet known, anything unstructured on standard
output) are relayed at DEBUG; a worker's unmarked standard error (a crash's traceback, a
native library's complaint) stays a warning.
"""

import asyncio
import json
import logging
import os
import sys
import warnings
from typing import Any, TextIO

Relayed = tuple[str, int, str, dict[str, Any]]  # logger name, level, message, fields
LOG_PATTERN = "%p\t%c\t%enc{%m}{CRLF}%n"
WORKER_MARK = "sm-detect-record "
WORKER_LINES = "com.amazonaws.ml.mms.wlm.WorkerLifeCycle"
WORKER_LOGGERS = ("sm-detect", "inference", "container", "py.warnings")
UNSTRUCTURED = "mms"  # the logger name for what the JVM and the launcher print themselves
LINE_LIMIT = 1 << 20
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}
# MMS's warnings that report nothing wrong: a worker's streams attached, a pid asked for
# before the worker has said it
NOT_WARNINGS = (
    (WORKER_LINES, "attachIOStreams()"),
    ("com.amazonaws.ml.mms.metrics.MetricCollector", "worker pid is not available yet"),
)
# log4j 2's notice, printed straight to standard error, that Java 9 and later lack the call
# it would use to find a logger's caller faster; nothing an operator can or need act on
JVM_NOTICES = ("WARNING: sun.reflect.Reflection.getCallerClass is not supported",)


def relayed(line: str, from_stderr: bool = False) -> Relayed:
    """``(logger name, level, message, fields)`` for one line of MMS's output."""
    parts = line.split("\t", 2)
    if len(parts) != 3 or parts[0] not in LEVELS:
        notice = line.startswith(JVM_NOTICES)
        level = logging.WARNING if from_stderr and not notice else logging.DEBUG
        return UNSTRUCTURED, level, line, {}
    level_name, name, message = parts
    if name == WORKER_LINES and message.startswith(WORKER_MARK):
        # one line of JSON, its own breaks escaped: log4j's escaping (which leaves backslashes
        # alone) is not undone
        with_fields = worker_record(message[len(WORKER_MARK) :])
        if with_fields:
            return with_fields
    message = message.replace("\\r", "\r").replace("\\n", "\n")
    level = LEVELS[level_name]
    if name == WORKER_LINES and level == logging.INFO:
        level = logging.DEBUG  # the worker's standard output: MMS's own worker bookkeeping
    if any(name == logger and message.startswith(start) for logger, start in NOT_WARNINGS):
        level = logging.DEBUG
    return name, level, message, {}


def worker_record(document: str) -> Relayed | None:
    """A worker's record, sent by ``WorkerRecords``; None when it is not one."""
    try:
        record = json.loads(document)
        name, level, message = record.pop("logger"), record.pop("level"), record.pop("message")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not (isinstance(name, str) and isinstance(message, str) and level in LEVELS):
        return None
    return name, LEVELS[level], message, record


def emit(name: str, level: int, message: str, fields: dict[str, Any]) -> None:
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message, extra={"fields": fields} if fields else None)


async def relay(stream: asyncio.StreamReader, from_stderr: bool = False) -> None:
    """Relay ``stream`` (an ``asyncio.StreamReader``) until it ends."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line over the reader's limit, which asyncio has dropped
            emit(UNSTRUCTURED, logging.WARNING, "(a line over the relay's limit, dropped)", {})
            continue
        if not line:
            return
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text:
            emit(*relayed(text, from_stderr))


class WorkerRecords(logging.Formatter):
    """A worker's record as ``WORKER_MARK`` and a JSON document of one line, with its pid."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "level": "WARN" if record.levelno == logging.WARNING else record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker_pid": os.getpid(),
            **(getattr(record, "fields", None) or {}),
        }
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return WORKER_MARK + json.dumps(document, default=str)


def show_warning_at_debug(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for a worker: a library's warning is a detail, not news (MXNet
    warns "Cannot decide type" for every network it loads from a symbol file)."""
    logging.getLogger("py.warnings").debug(
        "%s", warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    )


def configure_worker(level: str) -> None:
    """A worker's logging: our loggers' records on standard error, marked for the relay, at
    ``level``; Python's warnings at DEBUG. MMS's own worker code keeps the root logger: its
    standard output is what MMS parses (the worker's start, its ``[METRICS]`` lines)."""
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(WorkerRecords())
    for name in WORKER_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(output)
        logger.propagate = False
        logger.setLevel(level)
    warnings.showwarning = show_warning_at_debug


async def relay_process(process: asyncio.subprocess.Process) -> None:
    """Relay a child's standard output and error (both pipes) until both end."""
    if process.stdout is None or process.stderr is None:
        raise ValueError("the process was started without pipes to relay")
    await asyncio.gather(relay(process.stdout), relay(process.stderr, from_stderr=True))
